#include "core/offset_tracker.hpp"

#include <catch2/catch.hpp>

using tgsearch::offset_tracker;

TEST_CASE("offset starts at the given value", "[offset]") {
    CHECK(offset_tracker().offset() == 0);
    CHECK(offset_tracker(500).offset() == 500);
}

TEST_CASE("offset stays below an unfinished update", "[offset]") {
    offset_tracker tracker;
    REQUIRE(tracker.begin(10));
    REQUIRE(tracker.begin(11));
    REQUIRE(tracker.begin(12));
    CHECK(tracker.offset() == 10);

    tracker.finish(12);
    CHECK(tracker.offset() == 10);  // 10 and 11 could still be lost
    tracker.finish(10);
    CHECK(tracker.offset() == 11);
    tracker.finish(11);
    CHECK(tracker.offset() == 13);
    CHECK(tracker.in_flight() == 0);
}

TEST_CASE("offset skips updates already in flight", "[offset]") {
    offset_tracker tracker;
    REQUIRE(tracker.begin(5));
    CHECK_FALSE(tracker.begin(5));
    CHECK(tracker.in_flight() == 1);
}

TEST_CASE("offset skips finished updates above the mark", "[offset]") {
    // Telegram sends 21 again while 20 keeps the mark at 20; it must not be answered twice.
    offset_tracker tracker;
    REQUIRE(tracker.begin(20));
    REQUIRE(tracker.begin(21));
    tracker.finish(21);
    CHECK_FALSE(tracker.begin(21));
    tracker.finish(20);
    CHECK(tracker.offset() == 22);
    CHECK_FALSE(tracker.begin(21));
    CHECK_FALSE(tracker.begin(20));
    CHECK(tracker.begin(22));
}

TEST_CASE("offset handles gaps between update ids", "[offset]") {
    offset_tracker tracker;
    REQUIRE(tracker.begin(100));
    REQUIRE(tracker.begin(250));
    tracker.finish(100);
    CHECK(tracker.offset() == 250);
    tracker.finish(250);
    CHECK(tracker.offset() == 251);
}

TEST_CASE("offset ignores unknown finishes", "[offset]") {
    offset_tracker tracker;
    REQUIRE(tracker.begin(7));
    tracker.finish(8);
    CHECK(tracker.offset() == 7);
    CHECK(tracker.in_flight() == 1);
}

TEST_CASE("offset works with 64-bit update ids", "[offset]") {
    offset_tracker tracker;
    const std::int64_t big = (std::int64_t{1} << 40) + 3;
    REQUIRE(tracker.begin(big));
    CHECK(tracker.offset() == big);
    tracker.finish(big);
    CHECK(tracker.offset() == big + 1);
}

TEST_CASE("received end passes updates in flight", "[offset]") {
    offset_tracker tracker(100);
    CHECK(tracker.received_end() == 100);
    REQUIRE(tracker.begin(100));
    REQUIRE(tracker.begin(104));
    CHECK(tracker.offset() == 100);
    CHECK(tracker.received_end() == 105);
    tracker.finish(104);
    CHECK(tracker.received_end() == 105);
    CHECK(tracker.offset() == 100);
}

TEST_CASE("offset resumes after restored updates", "[offset]") {
    // Updates 40 and 45 were stored by an earlier run that had confirmed offset 50.
    offset_tracker tracker;
    REQUIRE(tracker.begin(40));
    REQUIRE(tracker.begin(45));
    tracker.skip_to(50);
    CHECK(tracker.received_end() == 50);
    CHECK(tracker.offset() == 40);
    CHECK(tracker.in_flight() == 2);

    // Telegram may send again what the earlier run had not confirmed yet.
    CHECK_FALSE(tracker.begin(45));
    CHECK(tracker.begin(47));
    REQUIRE(tracker.begin(50));
    CHECK(tracker.received_end() == 51);

    tracker.finish(40);
    CHECK(tracker.offset() == 45);
    tracker.finish(45);
    tracker.finish(47);
    CHECK(tracker.offset() == 50);
    tracker.finish(50);
    CHECK(tracker.offset() == 51);
}

TEST_CASE("offset ignores a lower skip", "[offset]") {
    offset_tracker tracker;
    REQUIRE(tracker.begin(60));
    tracker.skip_to(30);
    CHECK(tracker.received_end() == 61);
    tracker.finish(60);
    CHECK(tracker.offset() == 61);
    CHECK_FALSE(tracker.begin(59));
}

TEST_CASE("offset takes restored updates below it", "[offset]") {
    offset_tracker tracker(50);
    CHECK_FALSE(tracker.begin(45));  // Telegram sending an old update again
    REQUIRE(tracker.restore(45));
    CHECK_FALSE(tracker.restore(45));
    CHECK(tracker.is_in_flight(45));
    CHECK_FALSE(tracker.is_in_flight(46));
    CHECK(tracker.offset() == 45);
    CHECK(tracker.received_end() == 50);

    REQUIRE(tracker.begin(52));
    tracker.finish(52);
    CHECK_FALSE(tracker.restore(52));  // finished above the low-water mark
    tracker.finish(45);
    CHECK(tracker.offset() == 53);
    CHECK(tracker.in_flight() == 0);
}
