#pragma once

#include <memory>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"

namespace walle {

// Joins several asynchronous operations: each calls finish() once; after the last, `done`
// gets OK or the first error. Hold it in a shared_ptr captured by every callback, and start
// with one extra pending count that the submitter releases after submitting everything.
struct Join {
  int pending = 0;
  absl::Status first_error;
  absl::AnyInvocable<void(absl::Status)> done;

  static std::shared_ptr<Join> make(absl::AnyInvocable<void(absl::Status)> done) {
    auto join = std::make_shared<Join>();
    join->pending = 1;
    join->done = std::move(done);
    return join;
  }
  void finish(const absl::Status& status) {
    if (!status.ok() && first_error.ok()) first_error = status;
    if (--pending == 0) done(first_error);
  }
};

}  // namespace walle
