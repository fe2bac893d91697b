#pragma once

// Structured logs to stderr, with levels (spdlog): one line per event, "key=value" fields
// after the message, so that operators can grep and machines can parse.

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/env/event_log.h"
#include "net/poller.h"

namespace spdlog {
class logger;
}

namespace walle::runtime {

class Logger {
 public:
  // `level`: debug, info, warning or error; `name` tags every line (e.g. "walle n1").
  static absl::StatusOr<std::unique_ptr<Logger>> create(std::string_view level, std::string name);
  ~Logger();

  void debug(std::string_view line);
  void info(std::string_view line);
  void warning(std::string_view line);
  void error(std::string_view line);
  void log(net::LogLevel level, std::string_view line);

  // The protocol's readable events (WALLE_EVENT), at debug level.
  EventLog& events() { return events_; }

 private:
  class Events final : public EventLog {
   public:
    explicit Events(Logger& log) : log_(log) {}
    bool enabled() const override;
    void write(std::string_view line) override { log_.debug(line); }

   private:
    Logger& log_;
  };

  explicit Logger(std::shared_ptr<spdlog::logger> logger);
  std::shared_ptr<spdlog::logger> logger_;
  Events events_{*this};
};

}  // namespace walle::runtime
