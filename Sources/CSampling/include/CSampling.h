#ifndef CSAMPLING_H
#define CSAMPLING_H
// Code that must be async-signal-safe or safe inside malloc: no allocation, no locks, no Swift runtime.

#include "FrameWalk.h"
#include "SymbolicationProbe.h"
#include "SymbolicationDemangle.h"
#include "HeapSampler.h"
#include "MallocInterpose.h"
#include "CPUProfile.h"
#include "LeakScan.h"

#endif
