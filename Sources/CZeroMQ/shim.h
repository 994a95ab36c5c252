#ifndef ZPS_CZEROMQ_SHIM_H
#define ZPS_CZEROMQ_SHIM_H
#include <errno.h>
#include <zmq.h>
#endif
