#include "app/logging.hpp"

#include "app/bot_api_client.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

namespace tgsearch {
namespace {

std::mutex secret_mutex;
std::string redacted_secret;

/// Writes formatted lines to stderr after removing the registered secret.
class redacting_stderr_sink final : public spdlog::sinks::base_sink<std::mutex> {
protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(message, formatted);
        std::string line(formatted.data(), formatted.size());
        {
            std::lock_guard lock(secret_mutex);
            line = redact_token(std::move(line), redacted_secret);
        }
        std::fwrite(line.data(), 1, line.size(), stderr);
    }

    void flush_() override { std::fflush(stderr); }
};

}  // namespace

void setup_logging(spdlog::level::level_enum level, log_format /*format*/) {
    auto sink = std::make_shared<redacting_stderr_sink>();
    auto logger = std::make_shared<spdlog::logger>("tgsearch", std::move(sink));
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    logger->set_level(level);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

void set_redacted_secret(std::string secret) {
    std::lock_guard lock(secret_mutex);
    redacted_secret = std::move(secret);
}

spdlog::level::level_enum parse_log_level(std::string_view name) {
    const auto level = spdlog::level::from_str(std::string(name));
    // from_str returns `off` for anything it does not know.
    if (level == spdlog::level::off && name != "off") {
        throw std::invalid_argument(
            "invalid log level \"" + std::string(name) +
            "\": expected trace, debug, info, warn, error, critical or off");
    }
    return level;
}

}  // namespace tgsearch
