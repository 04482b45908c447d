// engine::parseDnsResponse and parseDnsQuery on any UDP payload. Besides the sanitizers, what
// a parsed message claims is checked: counts within their arrays, names of host characters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "engine/dns/dns.h"

namespace {

void checkHostName(const warden::engine::DnsName& name) {
  if (name.length > warden::engine::DnsName::kMaxLength) std::abort();
  for (const char c : name.view()) {
    const bool host =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
    if (!host) std::abort();  // upper case is folded; anything else is refused
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> message(data, size);
  warden::engine::DnsResponse response;
  const warden::engine::DnsStatus status = warden::engine::parseDnsResponse(message, response);
  (void)warden::engine::toString(status);
  if (response.status != status) std::abort();
  if (response.addressCount > warden::engine::DnsResponse::kMaxAddresses) std::abort();
  if (status != warden::engine::DnsStatus::kAnswers && response.addressCount != 0) std::abort();
  if (status == warden::engine::DnsStatus::kAnswers) {
    if (!response.hasQuestion) std::abort();
    checkHostName(response.question.name);
  }

  warden::engine::DnsQuestion question;
  if (warden::engine::parseDnsQuery(message, question)) {
    if (question.name.length == 0) std::abort();
    checkHostName(question.name);
  }
  return 0;
}
