// crt, quality "high", pass 2: the bright parts, blurred across columns (at half size).
#define CRT_BLOOM_X
#include "crt_bloom.glsl"
