#pragma once

#include <cstdint>
#include <set>

namespace tgsearch {

/// Tracks which updates are in flight and computes the getUpdates offset as the low-water mark:
/// one more than the highest update_id such that every update up to it is done. Confirming any
/// higher offset would let Telegram forget an update that a crash could still lose.
///
/// Not thread-safe: the I/O thread that polls and sends owns it.
class offset_tracker {
public:
    /// Starts with `first_offset` as the offset to send (0 lets Telegram choose).
    explicit offset_tracker(std::int64_t first_offset = 0) : received_end_(first_offset) {}

    /// Records an update received from getUpdates. Returns false when it is already in flight
    /// or already confirmed (Telegram re-sends unconfirmed updates), so the caller skips it.
    bool begin(std::int64_t update_id);

    /// Records an update restored from storage, such as Redis after a restart, whatever the
    /// offset: an earlier run confirms the offset past updates it has stored, so they lie
    /// below it. Returns false when it is in flight or finished above the low-water mark.
    bool restore(std::int64_t update_id);

    /// Tells whether an update is in flight.
    bool is_in_flight(std::int64_t update_id) const { return in_flight_.contains(update_id); }

    /// Marks an update done (replied, or dropped on purpose). Unknown ids are ignored.
    void finish(std::int64_t update_id);

    /// The offset to send with the next getUpdates.
    std::int64_t offset() const;

    /// One more than the highest update_id received, or the first offset when that is higher.
    /// Confirming it is safe only when every update in flight is stored elsewhere (Redis), so
    /// that a crash cannot lose it.
    std::int64_t received_end() const { return received_end_; }

    /// Raises received_end() to `offset`, as when resuming from an offset stored by an earlier
    /// run. Updates in flight stay in flight, and restore() takes updates below `offset`
    /// before or after this call. A lower `offset` is ignored.
    void skip_to(std::int64_t offset);

    std::size_t in_flight() const { return in_flight_.size(); }

private:
    std::set<std::int64_t> in_flight_;
    /// Updates finished above the low-water mark. Telegram re-sends them until the mark
    /// passes them, and they must not be answered twice.
    std::set<std::int64_t> finished_;
    std::int64_t received_end_;  ///< one more than the highest update_id ever received
};

}  // namespace tgsearch
