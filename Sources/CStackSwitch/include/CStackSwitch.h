#ifndef CSTACKSWITCH_H
#define CSTACKSWITCH_H
#include <stddef.h>
#include <stdint.h>
#endif
