#pragma once

// EventLog: readable protocol events ("claimed", "fast-forward to 42") for a person following
// a run: the simulator's --trace, a server's log. Text only, never part of any decision or of
// the simulator's digest. Formatting happens only when enabled.

#include <string_view>

#include "absl/strings/str_cat.h"

namespace walle {

class EventLog {
 public:
  virtual ~EventLog() = default;
  virtual bool enabled() const = 0;
  virtual void write(std::string_view line) = 0;
};

}  // namespace walle

// WALLE_EVENT(env, parts...): one line in env's event log, formatted with absl::StrCat.
#define WALLE_EVENT(env, ...)                                 \
  do {                                                        \
    if ((env).events != nullptr && (env).events->enabled()) { \
      (env).events->write(absl::StrCat(__VA_ARGS__));         \
    }                                                         \
  } while (false)
