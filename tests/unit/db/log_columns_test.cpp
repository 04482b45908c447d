#include "db/log_columns.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <cstdint>
#include <random>
#include <string>

namespace warden::db {
namespace {

rules::IpAddress fromBytes(const std::uint8_t* bytes) {
  rules::IpAddress address;
  std::copy(bytes, bytes + 16, address.bytes.begin());
  return address;
}

std::string glibcText(const rules::IpAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.isV4()) {
    inet_ntop(AF_INET, address.bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, address.bytes.data(), text, sizeof text);
  }
  return text;
}

TEST(AddressText, WritesWhatUsersKnow) {
  for (const char* text : {"192.0.2.10", "0.0.0.0", "255.255.255.255", "::", "::1",
                           "1::", "2001:db8::1", "2001:db8:0:1:0:0:0:1", "fe80::1:0:0:1",
                           "2001:db8:100::ffff", "::1.2.3.4", "1:2:3:4:5:6:7:8"}) {
    const auto address = rules::IpAddress::parse(text);
    ASSERT_TRUE(address) << text;
    EXPECT_EQ(addressText(*address), glibcText(*address)) << text;
  }
  EXPECT_EQ(addressText(*rules::IpAddress::parse("2001:db8:0:1:0:0:0:1")), "2001:db8:0:1::1");
  EXPECT_EQ(addressText(*rules::IpAddress::parse("192.0.2.10")), "192.0.2.10");
}

// Every address as inet_ntop writes it, so that rows written before and after read the same:
// random groups, each zero with probability one half, so that runs of every length and place
// (ties between runs, a run at either end, an address ending in a dotted quad) all occur.
TEST(AddressText, IsInetNtopCharacterForCharacter) {
  std::mt19937_64 random(5952);
  for (int n = 0; n < 200'000; ++n) {
    std::uint8_t bytes[16];
    const std::uint64_t zeros = random();
    for (int group = 0; group < 8; ++group) {
      const std::uint64_t value = random();
      const bool zero = (zeros >> group) & 1;
      // Small values too, so that groups of 1 to 4 digits all occur.
      const auto word =
          static_cast<std::uint16_t>(zero ? 0 : (value & 0xffff) >> (4 * ((value >> 16) % 4)));
      bytes[2 * group] = static_cast<std::uint8_t>(word >> 8);
      bytes[2 * group + 1] = static_cast<std::uint8_t>(word);
    }
    const rules::IpAddress address = fromBytes(bytes);
    ASSERT_EQ(addressText(address), glibcText(address)) << glibcText(address);
  }
}

}  // namespace
}  // namespace warden::db
