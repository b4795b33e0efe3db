#pragma once

// Test helpers for the [redis] tests: a real redis-server started on 127.0.0.1 with a free port
// (or on a Unix socket) and stopped by its PID, and a runner for coroutines.

#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tgsearch::testing {

/// Returns the path of redis-server found on PATH, or an empty string when it is not installed.
inline std::string find_redis_server() {
    const char* path = std::getenv("PATH");
    std::stringstream directories(path != nullptr ? path : "/usr/bin:/usr/local/bin");
    std::string directory;
    while (std::getline(directories, directory, ':')) {
        const std::filesystem::path candidate = std::filesystem::path(directory) / "redis-server";
        if (!directory.empty() && ::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    return {};
}

/// Makes the calling test pass with a warning when redis-server is not installed.
#define TGSEARCH_REQUIRE_REDIS_SERVER()                                                     \
    do {                                                                                    \
        if (::tgsearch::testing::find_redis_server().empty()) {                             \
            WARN("skipped: redis-server is not on PATH; install the redis-server package"); \
            return;                                                                         \
        }                                                                                   \
    } while (false)

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
inline std::uint16_t pick_free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t size = sizeof(address);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
        if (fd >= 0) {
            ::close(fd);
        }
        throw std::runtime_error("failed to find a free port on 127.0.0.1");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

struct redis_server_options {
    std::string password;      ///< sets --requirepass when not empty
    bool unix_socket = false;  ///< listens on a Unix socket in the data folder instead of TCP
};

/// A redis-server child process on 127.0.0.1 with no persistence, in a temporary folder.
/// The constructor returns once it replies to PING; the destructor stops it by its PID.
class redis_server {
public:
    explicit redis_server(redis_server_options options = {}) : options_(std::move(options)) {
        binary_ = find_redis_server();
        if (binary_.empty()) {
            throw std::runtime_error("redis-server is not on PATH");
        }
        std::string pattern = (std::filesystem::temp_directory_path() / "tgsearch-redis-XXXXXX");
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("failed to create a folder for redis-server");
        }
        directory_ = pattern;
        // Another process may take the port between picking and binding it, so try a few.
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = options_.unix_socket ? 0 : pick_free_port();
            if (start_process()) {
                return;
            }
        }
        std::filesystem::remove_all(directory_);
        throw std::runtime_error("redis-server did not start; see its log in " + directory_);
    }

    ~redis_server() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(directory_, ignored);
    }

    redis_server(const redis_server&) = delete;
    redis_server& operator=(const redis_server&) = delete;

    std::uint16_t port() const { return port_; }
    std::string socket_path() const { return directory_ + "/redis.sock"; }
    pid_t pid() const { return pid_; }

    /// Returns the URL of this server for parse_redis_url, with the password when one is set.
    std::string url(int database = 0) const {
        const std::string user_info =
            options_.password.empty() ? "" : ":" + options_.password + "@";
        if (options_.unix_socket) {
            return "unix://" + user_info + socket_path() + "?db=" + std::to_string(database);
        }
        return "redis://" + user_info + "127.0.0.1:" + std::to_string(port_) + "/" +
               std::to_string(database);
    }

    /// Starts the server again on the same port, with an empty data set.
    void restart() {
        stop();
        if (!start_process()) {
            throw std::runtime_error("redis-server did not start again on port " +
                                     std::to_string(port_));
        }
    }

    /// Stops the server with SIGTERM, then SIGKILL after 5 s.
    void stop() { end_process(SIGTERM); }

    /// Kills the server at once, as a crash would.
    void kill() { end_process(SIGKILL); }

    /// Freezes the server: connections stay open, and nothing is answered.
    void pause() { ::kill(pid_, SIGSTOP); }
    void resume() { ::kill(pid_, SIGCONT); }

private:
    bool start_process() {
        std::vector<std::string> arguments{binary_,
                                           "--port",
                                           std::to_string(port_),
                                           "--bind",
                                           "127.0.0.1",
                                           "--save",
                                           "",
                                           "--appendonly",
                                           "no",
                                           "--dir",
                                           directory_,
                                           "--logfile",
                                           directory_ + "/redis.log",
                                           "--daemonize",
                                           "no"};
        if (!options_.password.empty()) {
            arguments.insert(arguments.end(), {"--requirepass", options_.password});
        }
        if (options_.unix_socket) {
            arguments.insert(arguments.end(),
                             {"--unixsocket", socket_path(), "--unixsocketperm", "700"});
        }
        std::vector<char*> argv;
        for (std::string& argument : arguments) {
            argv.push_back(argument.data());
        }
        argv.push_back(nullptr);

        pid_ = ::fork();
        if (pid_ < 0) {
            throw std::runtime_error("fork failed");
        }
        if (pid_ == 0) {
            const int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, STDOUT_FILENO);
            ::dup2(null, STDERR_FILENO);
            ::execv(argv[0], argv.data());
            ::_exit(127);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;  // exited, most likely because the port was taken
            }
            if (answers_ping()) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        end_process(SIGKILL);
        return false;
    }

    // Sends PING on a fresh connection. "-NOAUTH" counts too: the server is up.
    bool answers_ping() const {
        int fd = -1;
        if (options_.unix_socket) {
            fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
            sockaddr_un address{};
            address.sun_family = AF_UNIX;
            std::strncpy(address.sun_path, socket_path().c_str(), sizeof(address.sun_path) - 1);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
                ::close(fd);
                return false;
            }
        } else {
            fd = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            address.sin_port = htons(port_);
            if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
                ::close(fd);
                return false;
            }
        }
        timeval timeout{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        const char ping[] = "*1\r\n$4\r\nPING\r\n";
        char reply[64] = {};
        const bool answered = ::write(fd, ping, sizeof(ping) - 1) == sizeof(ping) - 1 &&
                              ::read(fd, reply, sizeof(reply) - 1) > 0;
        ::close(fd);
        return answered &&
               (std::strncmp(reply, "+PONG", 5) == 0 || std::strncmp(reply, "-NOAUTH", 7) == 0);
    }

    void end_process(int signal_number) {
        if (pid_ <= 0) {
            return;
        }
        ::kill(pid_, signal_number);
        ::kill(pid_, SIGCONT);  // a paused server handles SIGTERM only once it runs again
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        int status = 0;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() >= deadline) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        pid_ = -1;
    }

    redis_server_options options_;
    std::string binary_;
    std::string directory_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

/// A TCP listener on 127.0.0.1 that never accepts: the kernel completes connections, and
/// nothing is ever read or answered. Stands in for a server that hangs.
class silent_listener {
public:
    silent_listener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t size = sizeof(address);
        if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
            ::listen(fd_, 16) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
            throw std::runtime_error("failed to listen on 127.0.0.1");
        }
        port_ = ntohs(address.sin_port);
    }
    ~silent_listener() { ::close(fd_); }

    silent_listener(const silent_listener&) = delete;
    silent_listener& operator=(const silent_listener&) = delete;

    std::uint16_t port() const { return port_; }

private:
    int fd_ = -1;
    std::uint16_t port_ = 0;
};

/// Awaits `task` and stores its value in `out`. co_spawn needs a default-constructible
/// result, which redis_result is not, so tests spawn this wrapper instead.
template <class T>
boost::asio::awaitable<void> store_value(boost::asio::awaitable<T> task, std::optional<T>& out) {
    out.emplace(co_await std::move(task));
}

/// Starts `task` on `io`; its value lands in `out` once the io_context has run it to the end.
template <class T>
void spawn_task(boost::asio::io_context& io, boost::asio::awaitable<T> task,
                std::optional<T>& out) {
    boost::asio::co_spawn(io, store_value(std::move(task), out), [](std::exception_ptr error) {
        if (error) {
            std::rethrow_exception(error);
        }
    });
}

/// Runs `task` on `io` until it finishes and returns its value. Fails the test when it takes
/// longer than `limit`.
template <class T>
T run_task(boost::asio::io_context& io, boost::asio::awaitable<T> task,
           std::chrono::seconds limit = std::chrono::seconds(30)) {
    std::optional<T> result;
    spawn_task(io, std::move(task), result);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!result && std::chrono::steady_clock::now() < deadline) {
        io.restart();
        io.run_for(std::chrono::milliseconds(100));
    }
    if (!result) {
        FAIL("the coroutine did not finish within " << limit.count() << " s");
    }
    return std::move(*result);
}

}  // namespace tgsearch::testing
