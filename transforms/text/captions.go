package text

// Captions tokenizes the captions of one clip as a dataset stores them: caption i's maxLen ids
// and mask at [i·maxLen, (i+1)·maxLen), each caption cleaned by PreText first when preText is
// set. No captions give nil, nil.
func (t *Tokenizer) Captions(captions []string, maxLen int, preText bool) (ids []int32, mask []uint8) {
	if len(captions) == 0 {
		return nil, nil
	}
	ids, mask = make([]int32, len(captions)*maxLen), make([]uint8, len(captions)*maxLen)
	for i, c := range captions {
		if preText {
			c = PreText(c, 0)
		}
		t.EncodeInto(ids[i*maxLen:(i+1)*maxLen], mask[i*maxLen:(i+1)*maxLen], c)
	}
	return ids, mask
}
