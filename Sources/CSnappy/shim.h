#ifndef ZPS_CSNAPPY_SHIM_H
#define ZPS_CSNAPPY_SHIM_H
#include <snappy-c.h>
#endif
