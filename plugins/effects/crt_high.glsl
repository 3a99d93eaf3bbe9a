// crt, quality "high", last pass: crt.glsl reading the persisted picture and the bloom.
#define CRT_HIGH
#include "crt.glsl"
