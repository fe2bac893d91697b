#include "runtime/logger.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace walle::runtime {

absl::StatusOr<std::unique_ptr<Logger>> Logger::create(std::string_view level, std::string name) {
  spdlog::level::level_enum parsed;
  if (level == "debug") {
    parsed = spdlog::level::debug;
  } else if (level == "info") {
    parsed = spdlog::level::info;
  } else if (level == "warning") {
    parsed = spdlog::level::warn;
  } else if (level == "error") {
    parsed = spdlog::level::err;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("log level '", std::string(level),
                                                   "': want debug, info, warning or error"));
  }
  auto logger = std::make_shared<spdlog::logger>(
      std::move(name), std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(parsed);
  // 2026-12-02T18:01:11.123456Z info walle n1: message key=value
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l %n: %v", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::debug);
  return std::unique_ptr<Logger>(new Logger(std::move(logger)));
}

Logger::Logger(std::shared_ptr<spdlog::logger> logger) : logger_(std::move(logger)) {}
Logger::~Logger() = default;

void Logger::debug(std::string_view line) { logger_->debug("{}", line); }
void Logger::info(std::string_view line) { logger_->info("{}", line); }
void Logger::warning(std::string_view line) { logger_->warn("{}", line); }
void Logger::error(std::string_view line) { logger_->error("{}", line); }

void Logger::log(net::LogLevel level, std::string_view line) {
  switch (level) {
    case net::LogLevel::kDebug: return debug(line);
    case net::LogLevel::kInfo: return info(line);
    case net::LogLevel::kWarning: return warning(line);
    case net::LogLevel::kError: return error(line);
  }
}

bool Logger::Events::enabled() const { return log_.logger_->should_log(spdlog::level::debug); }

}  // namespace walle::runtime
