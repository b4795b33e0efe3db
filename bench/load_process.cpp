#include "bench/load_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace tgsearch::bench {
namespace {

struct process_stat {
    pid_t parent = 0;
    std::uint64_t cpu_ticks = 0;  ///< utime + stime + cutime + cstime
};

/// Parses /proc/PID/stat. The command name in brackets may contain spaces and brackets, so the
/// fields are counted from the last ')'.
std::optional<process_stat> read_stat(const std::filesystem::path& stat_path) {
    std::ifstream file(stat_path);
    std::string line;
    if (!std::getline(file, line)) {
        return std::nullopt;
    }
    const std::size_t name_end = line.rfind(')');
    if (name_end == std::string::npos) {
        return std::nullopt;
    }
    // Fields after the name, numbered as in proc(5): 3 state, 4 ppid, ..., 14 utime,
    // 15 stime, 16 cutime, 17 cstime.
    std::istringstream fields(line.substr(name_end + 1));
    std::string state;
    process_stat stat;
    fields >> state >> stat.parent;
    std::string skipped;
    for (int field = 5; field <= 13; ++field) {
        fields >> skipped;
    }
    std::uint64_t times[4] = {};
    for (std::uint64_t& time : times) {
        fields >> time;
    }
    if (!fields) {
        return std::nullopt;
    }
    stat.cpu_ticks = times[0] + times[1] + times[2] + times[3];
    return stat;
}

std::uint64_t read_peak_rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmHWM:")) {
            return std::stoull(line.substr(6));
        }
    }
    return 0;
}

std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) {
        return "exit code " + std::to_string(WEXITSTATUS(status));
    }
    if (WIFSIGNALED(status)) {
        return "killed by signal " + std::to_string(WTERMSIG(status));
    }
    return "wait status " + std::to_string(status);
}

}  // namespace

process_tree_usage read_process_tree(pid_t root) {
    std::map<pid_t, process_stat> processes;
    std::error_code error;
    for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) {
            continue;
        }
        if (auto stat = read_stat(entry.path() / "stat")) {
            processes.emplace(static_cast<pid_t>(std::stol(name)), *stat);
        }
    }

    process_tree_usage usage;
    std::vector<pid_t> pending{root};
    const long ticks_per_second = ::sysconf(_SC_CLK_TCK);
    while (!pending.empty()) {
        const pid_t pid = pending.back();
        pending.pop_back();
        const auto found = processes.find(pid);
        if (found == processes.end()) {
            continue;
        }
        usage.cpu_ns += found->second.cpu_ticks * 1'000'000'000ull /
                        static_cast<std::uint64_t>(ticks_per_second);
        usage.peak_rss_kib += read_peak_rss_kib(pid);
        ++usage.processes;
        for (const auto& [child, stat] : processes) {
            if (stat.parent == pid) {
                pending.push_back(child);
            }
        }
    }
    return usage;
}

child_process::child_process(const std::vector<std::string>& argv, const std::string& log_path) {
    if (argv.empty()) {
        throw std::runtime_error("no bot command given: put it after --");
    }
    const int log_fd = ::open(log_path.empty() ? "/dev/null" : log_path.c_str(),
                              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        throw std::runtime_error("cannot open bot log " + log_path + ": " + std::strerror(errno));
    }
    std::vector<char*> args;
    for (const std::string& arg : argv) {
        args.push_back(const_cast<char*>(arg.c_str()));
    }
    args.push_back(nullptr);

    pid_ = ::fork();
    if (pid_ == 0) {
        // Only async-signal-safe calls between fork and exec.
        ::setpgid(0, 0);
        ::dup2(log_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
        const int null_fd = ::open("/dev/null", O_RDONLY);
        if (null_fd >= 0) {
            ::dup2(null_fd, STDIN_FILENO);
        }
        ::execvp(args[0], args.data());
        ::_exit(127);
    }
    ::close(log_fd);
    if (pid_ < 0) {
        throw std::runtime_error(std::string("cannot start the bot: fork failed: ") +
                                 std::strerror(errno));
    }
}

child_process::~child_process() {
    if (!poll_exit()) {
        kill();
    } else {
        // Helpers the bot started (worker processes, a Redis server) share its process group;
        // a bot that exited without stopping them must not leave them running.
        ::kill(-pid_, SIGKILL);
    }
}

std::optional<std::string> child_process::poll_exit() {
    if (exit_status_) {
        return exit_status_;
    }
    int status = 0;
    const pid_t waited = ::waitpid(pid_, &status, WNOHANG);
    if (waited == pid_) {
        exit_status_ = describe_wait_status(status);
    }
    return exit_status_;
}

void child_process::terminate() {
    if (!poll_exit()) {
        ::kill(pid_, SIGTERM);
    }
}

std::string child_process::kill() {
    if (!poll_exit()) {
        ::kill(pid_, SIGKILL);
        ::kill(-pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        exit_status_ = describe_wait_status(status);
    }
    return *exit_status_;
}

}  // namespace tgsearch::bench
