// crt, quality "high", pass 3 "bloom": blurred down rows.
#include "crt_bloom.glsl"
