#include "rules/process_info.h"

#include "base/sha256.h"

namespace warden::rules {
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Sha256> parseSha256(std::string_view hex) {
  Sha256 digest{};
  if (hex.size() != digest.size() * 2) return std::nullopt;
  for (std::size_t i = 0; i < digest.size(); ++i) {
    const int high = hexValue(hex[2 * i]);
    const int low = hexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    digest[i] = static_cast<std::uint8_t>(high * 16 + low);
  }
  return digest;
}

std::string toHex(const Sha256& digest) { return base::lowercaseHex(digest); }

std::string joinArgv(const std::vector<std::string>& argv) {
  std::string joined;
  for (const auto& arg : argv) {
    if (!joined.empty() || &arg != &argv.front()) joined += ' ';
    joined += arg;
  }
  return joined;
}

std::size_t Environment::erase(std::string_view name) {
  if (find(name) == end()) return 0;
  Map& map = own();
  map.erase(map.find(name));
  return 1;
}

const Environment::Map& Environment::map() const {
  static const Map kEmpty;
  return map_ ? *map_ : kEmpty;
}

Environment::Map& Environment::own() {
  if (!map_) {
    map_ = std::make_shared<Map>();
  } else if (map_.use_count() > 1) {
    map_ = std::make_shared<Map>(*map_);
  }
  return *map_;
}

void ProcessInfo::setArgv(const std::vector<std::string>& args) { cmdline = joinArgv(args); }

}  // namespace warden::rules
