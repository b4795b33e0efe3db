#include "core/offset_tracker.hpp"

#include <algorithm>

namespace tgsearch {

bool offset_tracker::begin(std::int64_t update_id) {
    if (update_id < offset()) {
        return false;
    }
    return restore(update_id);
}

bool offset_tracker::restore(std::int64_t update_id) {
    if (in_flight_.contains(update_id) || finished_.contains(update_id)) {
        return false;
    }
    in_flight_.insert(update_id);
    if (update_id >= received_end_) {
        received_end_ = update_id + 1;
    }
    return true;
}

void offset_tracker::finish(std::int64_t update_id) {
    if (in_flight_.erase(update_id) == 0) {
        return;
    }
    finished_.insert(update_id);
    const std::int64_t low_water = offset();
    finished_.erase(finished_.begin(), finished_.lower_bound(low_water));
}

void offset_tracker::skip_to(std::int64_t offset) {
    received_end_ = std::max(received_end_, offset);
}

std::int64_t offset_tracker::offset() const {
    return in_flight_.empty() ? received_end_ : *in_flight_.begin();
}

}  // namespace tgsearch
