#pragma once

#include "absl/functional/any_invocable.h"

namespace walle::disk {

// Where the I/O thread hands finished work: the runtime's event loop implements it (and runs
// each posted function on the loop thread), tests and tools use BlockingCompletionQueue.
//
// post() is called from the I/O thread (and may be called from any thread): it must be
// thread-safe, must not run `fn` inline, and must run posted functions one at a time, in the
// order they were posted. It must outlive every PosixFileSystem that posts to it.
class CompletionSink {
 public:
  virtual ~CompletionSink() = default;
  virtual void post(absl::AnyInvocable<void()> fn) = 0;
};

}  // namespace walle::disk
