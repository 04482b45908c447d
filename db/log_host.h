#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace warden::db {

// The remote host name a verdict-log row records. Rows are built on the verdict path, which
// must not allocate, and wait by the thousand in the producers' rings (LogWriterOptions::
// ringCapacity rows each, allocated up front), so a row can afford neither a heap copy nor
// room for the longest DNS name in every slot. Names of up to kInline characters, nearly all
// names, are held inline; a longer one (kInline + 1 to kMaxLength characters) is copied to
// the heap: the one allocation left on the verdict path, made for a logged flow to such a
// host only. 64 bytes, twice a std::string: 8192 rows cost 256 KiB more than with one.
//
// Thread-safety: a value; one thread at a time.
class LogHost {
 public:
  static constexpr std::size_t kMaxLength = 253;  // RFC 1035: a name's text, without root dot
  static constexpr std::size_t kInline = 55;      // with length and heap pointer: 64 bytes

  LogHost() = default;
  LogHost(const LogHost& other) { assign(other.view()); }
  LogHost(LogHost&& other) noexcept;
  LogHost& operator=(const LogHost& other);
  LogHost& operator=(LogHost&& other) noexcept;
  LogHost& operator=(std::string_view name) {
    assign(name);
    return *this;
  }

  // Copies `name`, cut to kMaxLength. Allocates only for a name longer than kInline.
  void assign(std::string_view name);
  std::string_view view() const { return {spill_ ? spill_.get() : text_.data(), length_}; }
  bool empty() const { return length_ == 0; }

 private:
  std::unique_ptr<char[]> spill_;  // the name when longer than kInline (kMaxLength bytes)
  std::uint8_t length_ = 0;
  std::array<char, kInline> text_{};
};

}  // namespace warden::db
