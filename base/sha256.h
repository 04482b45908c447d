#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/error.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace warden::base {

// SHA-256 through OpenSSL's EVP interface, fed in pieces. The one implementation behind the
// profile matcher's `sha256` key, the executable-hash cache and `warden hash`, so that what the
// command prints is what the matcher compares, byte for byte. Digests are 64 lowercase hex
// digits. Every OpenSSL call is checked. One object per digest; not thread-safe.
class Sha256 {
 public:
  [[nodiscard]] static Result<Sha256> start();

  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  ~Sha256();

  [[nodiscard]] Result<void> update(std::string_view bytes);
  // The digest of everything updated so far; the object is spent afterwards.
  [[nodiscard]] Result<std::string> finishHex();

 private:
  struct ContextFree {
    void operator()(evp_md_ctx_st* context) const;
  };
  explicit Sha256(std::unique_ptr<evp_md_ctx_st, ContextFree> context);

  std::unique_ptr<evp_md_ctx_st, ContextFree> context_;
};

// The digest of `bytes`.
[[nodiscard]] Result<std::string> sha256Hex(std::string_view bytes);
// The digest of everything `fd` refers to, read from offset 0 in 64 KiB chunks with pread, so
// that a descriptor shared with others keeps its offset.
[[nodiscard]] Result<std::string> sha256HexOfFd(int fd);
// The same, refused (EFBIG) once more than `maxBytes` were read: a file that grows while it is
// hashed (a sparse file, at no cost) would keep the reader going for as long as it grows.
[[nodiscard]] Result<std::string> sha256HexOfFd(int fd, std::uint64_t maxBytes);
// The digest of the file at `path` (symbolic links followed).
[[nodiscard]] Result<std::string> sha256HexOfFile(const std::filesystem::path& path);

// Lowercase hex digits of `bytes`, two per byte.
std::string lowercaseHex(std::span<const std::uint8_t> bytes);

}  // namespace warden::base
