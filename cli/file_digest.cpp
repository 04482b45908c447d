#include "cli/file_digest.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "base/unique_fd.h"
#include "rules/process_info.h"

namespace warden::cli {
namespace {

struct DigestContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

Failure fileFailure(const std::filesystem::path& file, int error) {
  return {exitCodeForErrno(error), "cannot read " + file.string() + ": " + std::strerror(error)};
}

}  // namespace

Outcome<std::string> sha256File(const std::filesystem::path& file) {
  auto opened = base::openFile(file, O_RDONLY | O_NOCTTY);
  if (!opened) return std::unexpected(fileFailure(file, opened.error().code));
  const base::UniqueFd fd = std::move(*opened);
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) return std::unexpected(fileFailure(file, errno));
  if (!S_ISREG(info.st_mode)) {
    return std::unexpected(Failure{ExitCode::kError, file.string() + " is not a regular file"});
  }

  std::unique_ptr<EVP_MD_CTX, DigestContextFree> context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    return std::unexpected(Failure{ExitCode::kError, "OpenSSL could not start a SHA-256"});
  }
  std::unique_ptr<unsigned char[]> buffer(new unsigned char[1 << 16]);
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.get(), 1 << 16);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(fileFailure(file, errno));
    if (n == 0) break;
    EVP_DigestUpdate(context.get(), buffer.get(), static_cast<std::size_t>(n));
  }
  rules::Sha256 digest{};  // EVP_sha256 writes exactly its 32 bytes
  if (EVP_DigestFinal_ex(context.get(), digest.data(), nullptr) != 1) {
    return std::unexpected(Failure{ExitCode::kError, "OpenSSL could not finish the SHA-256"});
  }
  return rules::toHex(digest);
}

}  // namespace warden::cli
