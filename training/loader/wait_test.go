package loader

import "time"

func waitABit() { time.Sleep(time.Millisecond) }
