#pragma once

#include "core/env/coverage.h"

namespace walle {

// Code-level fault points that fire only in simulation (FoundationDB's BUGGIFY): a spot in
// core/ code that can behave in a legal but unusual way (a tiny buffer, a spurious retry, an
// extra delay) asks whether to do so now. Each point is named by a CoveragePath (kBuggify...),
// so the sweep's coverage table shows how often each fired. The one route is Env::buggify
// (code without an Env, the store, gets it from whoever opens it); production passes none,
// so every point is a null check that never fires.
class Buggify {
 public:
  virtual ~Buggify() = default;
  // Whether fault point `point` fires now (and, if so, counts it as taken).
  virtual bool fire(CoveragePath point) = 0;
};

}  // namespace walle

// True if the fault point fires now; `buggify` is a Buggify* (nullptr: never), `point` a
// CoveragePath enumerator without its prefix, e.g. WALLE_BUGGIFY(env_.buggify, kBuggifyQueueFull).
#define WALLE_BUGGIFY(buggify, point) \
  ((buggify) != nullptr && (buggify)->fire(::walle::CoveragePath::point))
