#pragma once

// The bot under test as a child process of the load server: starting and stopping it, and
// reading its CPU time and peak memory from /proc.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tgsearch::bench {

/// CPU time and peak resident memory of a process and all its descendants.
struct process_tree_usage {
    /// utime + stime of every live process in the tree, plus cutime + cstime (children that
    /// were waited for), in nanoseconds. The kernel counts in clock ticks (10 ms at the usual
    /// USER_HZ of 100), so this is that coarse.
    std::uint64_t cpu_ns = 0;
    /// Sum of VmHWM over the live processes, in KiB. An upper bound on the tree's peak, since
    /// the processes need not have peaked at the same time.
    std::uint64_t peak_rss_kib = 0;
    std::size_t processes = 0;
};

/// Reads the usage of `root` and its descendants from /proc. Processes that exit while it
/// reads are skipped.
process_tree_usage read_process_tree(pid_t root);

/// A child process started in a process group of its own, stopped on destruction.
class child_process {
public:
    /// Starts `argv` with standard output and standard error appended to `log_path` (or
    /// /dev/null when empty). Throws std::runtime_error when the program cannot be started.
    child_process(const std::vector<std::string>& argv, const std::string& log_path);
    ~child_process();

    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const { return pid_; }

    /// Returns the exit status text ("exit code 1", "killed by signal 9") once the child has
    /// ended, and nothing while it runs. Never blocks.
    std::optional<std::string> poll_exit();

    /// Sends SIGTERM to the child. The caller polls poll_exit() and calls kill() when the
    /// child takes too long, without blocking the thread that serves the child's requests.
    void terminate();

    /// Sends SIGKILL to the child and its process group and waits for the child. Returns how
    /// it ended.
    std::string kill();

private:
    pid_t pid_ = -1;
    std::optional<std::string> exit_status_;
};

}  // namespace tgsearch::bench
