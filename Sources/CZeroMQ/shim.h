#ifndef ZPS_CZEROMQ_SHIM_H
#define ZPS_CZEROMQ_SHIM_H
#include <errno.h>
#include <zmq.h>
#if defined(__linux__)
// eventfd backs the wake-up signal an I/O thread polls next to its sockets.
#include <sys/eventfd.h>
#endif
#endif
