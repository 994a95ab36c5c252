#ifndef ZPS_CMSGPACK_SHIM_H
#define ZPS_CMSGPACK_SHIM_H
#include <msgpack.h>
#endif
