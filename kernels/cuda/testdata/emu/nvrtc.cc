// Emulated NVRTC: every program "compiles" (the kernels are built into libcuda.so.1 here);
// reports version 12.4 and sm_90 so the backend asks for a CUBIN.
#include <cstddef>
#include <cstring>

extern "C" {
int nvrtcVersion(int* a, int* b) { *a = 12; *b = 4; return 0; }
int nvrtcGetNumSupportedArchs(int* n) { *n = 2; return 0; }
int nvrtcGetSupportedArchs(int* a) { a[0] = 80; a[1] = 90; return 0; }
int nvrtcCreateProgram(void** p, const char*, const char*, int, const char* const*, const char* const*) {
  *p = (void*)0x5;
  return 0;
}
int nvrtcCompileProgram(void*, int, const char* const*) { return 0; }
int nvrtcDestroyProgram(void** p) { *p = nullptr; return 0; }
int nvrtcGetProgramLogSize(void*, size_t* n) { *n = 1; return 0; }
int nvrtcGetProgramLog(void*, char* s) { s[0] = 0; return 0; }
int nvrtcGetPTXSize(void*, size_t* n) { *n = 4; return 0; }
int nvrtcGetPTX(void*, char* s) { std::memcpy(s, "EMU", 4); return 0; }
int nvrtcGetCUBINSize(void*, size_t* n) { *n = 4; return 0; }
int nvrtcGetCUBIN(void*, char* s) { std::memcpy(s, "EMU", 4); return 0; }
const char* nvrtcGetErrorString(int) { return "NVRTC emulator error"; }
}
