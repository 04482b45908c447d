#include "base/sha256.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <utility>

#include "base/unique_fd.h"

namespace warden::base {
namespace {

constexpr std::size_t kReadChunk = 64 * 1024;

// A failed OpenSSL call: its queue of reasons (per thread) says why; the oldest is the cause.
Error opensslError(std::string_view call) {
  std::string where = "SHA-256: ";
  where += call;
  where += " failed";
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char reason[256];
    ERR_error_string_n(code, reason, sizeof reason);
    where += ": ";
    where += reason;
  }
  ERR_clear_error();
  return makeError(0, std::move(where));
}

}  // namespace

void Sha256::ContextFree::operator()(evp_md_ctx_st* context) const { EVP_MD_CTX_free(context); }

Sha256::Sha256(std::unique_ptr<evp_md_ctx_st, ContextFree> context)
    : context_(std::move(context)) {}
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;
Sha256::~Sha256() = default;

Result<Sha256> Sha256::start() {
  std::unique_ptr<evp_md_ctx_st, ContextFree> context(EVP_MD_CTX_new());
  if (!context) return std::unexpected(opensslError("EVP_MD_CTX_new"));
  if (EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return std::unexpected(opensslError("EVP_DigestInit_ex"));
  }
  return Sha256(std::move(context));
}

Result<void> Sha256::update(std::string_view bytes) {
  if (EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) != 1) {
    return std::unexpected(opensslError("EVP_DigestUpdate"));
  }
  return {};
}

Result<std::string> Sha256::finishHex() {
  std::array<std::uint8_t, 32> digest{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(context_.get(), digest.data(), &size) != 1) {
    return std::unexpected(opensslError("EVP_DigestFinal_ex"));
  }
  if (size != digest.size()) {
    return std::unexpected(makeError(0, "SHA-256: a digest of " + std::to_string(size) + " bytes"));
  }
  return lowercaseHex(digest);
}

Result<std::string> sha256Hex(std::string_view bytes) {
  auto hash = Sha256::start();
  if (!hash) return std::unexpected(hash.error());
  if (auto updated = hash->update(bytes); !updated) return std::unexpected(updated.error());
  return hash->finishHex();
}

Result<std::string> sha256HexOfFd(int fd) { return sha256HexOfFd(fd, UINT64_MAX); }

Result<std::string> sha256HexOfFd(int fd, std::uint64_t maxBytes) {
  auto hash = Sha256::start();
  if (!hash) return std::unexpected(hash.error());
  auto buffer = std::make_unique<char[]>(kReadChunk);
  off_t offset = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buffer.get(), kReadChunk, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errnoError("reading the file to hash"));
    }
    if (n == 0) break;
    if (static_cast<std::uint64_t>(offset) + static_cast<std::uint64_t>(n) > maxBytes) {
      return std::unexpected(makeError(EFBIG, "the file grew while it was hashed"));
    }
    auto updated = hash->update(std::string_view(buffer.get(), static_cast<std::size_t>(n)));
    if (!updated) return std::unexpected(updated.error());
    offset += n;
  }
  return hash->finishHex();
}

Result<std::string> sha256HexOfFile(const std::filesystem::path& path) {
  auto fd = openFile(path, O_RDONLY | O_NOCTTY);
  if (!fd) return std::unexpected(fd.error());
  return sha256HexOfFd(fd->get());
}

std::string lowercaseHex(std::span<const std::uint8_t> bytes) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (const std::uint8_t byte : bytes) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0xf];
  }
  return hex;
}

}  // namespace warden::base
