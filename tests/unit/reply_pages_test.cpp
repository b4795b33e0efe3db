#include "core/reply_pages.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <string>

using namespace tgsearch;
using namespace std::chrono_literals;

TEST_CASE("page store finds a search by key and chat", "[reply_pages]") {
    page_store store;
    const auto now = page_store::clock_type::now();
    const std::string key = store.add({-1001234567890, "nginx reverse proxy"}, now);
    CHECK(key.size() == 16);
    const auto found = store.find(key, -1001234567890, now);
    REQUIRE(found);
    CHECK(found->query == "nginx reverse proxy");
    CHECK(found->chat_id == -1001234567890);
    // A button copied into another chat reads as expired.
    CHECK_FALSE(store.find(key, 42, now));
    CHECK_FALSE(store.find("0000000000000000", -1001234567890, now));
}

TEST_CASE("page store expires searches after their last use", "[reply_pages]") {
    page_store store(page_store_limits{10s, 100});
    const auto start = page_store::clock_type::now();
    const std::string key = store.add({1, "q"}, start);
    // Each use moves the expiry on.
    CHECK(store.find(key, 1, start + 9s));
    CHECK(store.find(key, 1, start + 18s));
    CHECK_FALSE(store.find(key, 1, start + 28s));
    CHECK(store.size() == 0);
}

TEST_CASE("page store evicts the least recently used", "[reply_pages]") {
    page_store store(page_store_limits{3600s, 3});
    const auto now = page_store::clock_type::now();
    const std::string first = store.add({1, "first"}, now);
    const std::string second = store.add({1, "second"}, now);
    const std::string third = store.add({1, "third"}, now);
    REQUIRE(store.find(first, 1, now));  // now the most recently used
    const std::string fourth = store.add({1, "fourth"}, now);
    CHECK(store.size() == 3);
    CHECK(store.find(first, 1, now));
    CHECK_FALSE(store.find(second, 1, now));
    CHECK(store.find(third, 1, now));
    CHECK(store.find(fourth, 1, now));
}

TEST_CASE("page store keys are distinct", "[reply_pages]") {
    page_store store;
    std::set<std::string> keys;
    for (int i = 0; i < 1000; ++i) {
        keys.insert(store.add({1, "q"}));
    }
    CHECK(keys.size() == 1000);
}

TEST_CASE("page callback data stays short and parses back", "[reply_pages]") {
    const std::string data = page_callback_data("0123456789abcdef", 9999);
    CHECK(data == "p:0123456789abcdef:9999");
    CHECK(data.size() <= max_callback_data_bytes);
    const auto request = parse_page_callback_data(data);
    REQUIRE(request);
    CHECK(request->key == "0123456789abcdef");
    CHECK(request->page == 9999);

    for (const char* invalid :
         {"", "p:", "x:0123456789abcdef:1", "p:0123456789abcdef:", "p:0123456789abcdef:-1",
          "p:0123456789ABCDEF:1", "p:0123456789abcde:1", "p:0123456789abcdef:123456",
          "p:0123456789abcdef:1x", "p:0123456789abcdef"}) {
        CAPTURE(invalid);
        CHECK_FALSE(parse_page_callback_data(invalid));
    }
}
