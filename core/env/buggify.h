#pragma once

namespace walle {

// Code-level fault points that fire only in simulation (FoundationDB's BUGGIFY): a spot in
// core/ code that can behave in a legal but unusual way (a tiny buffer, a spurious retry, an
// extra delay) asks whether to do so now. Production passes no Buggify, so every point is a
// null check that never fires.
class Buggify {
 public:
  virtual ~Buggify() = default;
  // Whether the fault point at `file`:`line` fires now.
  virtual bool fire(const char* file, int line) = 0;
};

}  // namespace walle

// True if the fault point here fires now; `buggify` is a Buggify* (nullptr: never).
#define WALLE_BUGGIFY(buggify) ((buggify) != nullptr && (buggify)->fire(__FILE__, __LINE__))
