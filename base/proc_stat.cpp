#include "base/proc_stat.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <vector>

#include "base/bounded_waits.h"
#include "base/unique_fd.h"

namespace warden::base {
namespace {

template <typename T>
bool parseNumber(std::string_view text, T& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

std::optional<ProcStat> parseStat(std::string_view text) {
  // "pid (comm) state ppid ..." where comm may itself hold spaces and parentheses: it ends at
  // the last ')'.
  const std::size_t open = text.find('(');
  const std::size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return std::nullopt;
  }
  ProcStat stat;
  stat.comm = std::string(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 1);
  // Fields from 3 (state) on, space separated.
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < rest.size() && fields.size() < 20) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    std::size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) fields.push_back(rest.substr(i, j - i));
    i = j + 1;
  }
  // fields[0] = state (3), fields[1] = ppid (4), fields[6] = flags (9), fields[19] =
  // starttime (22)
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  stat.state = fields[0][0];
  if (!parseNumber(fields[1], stat.ppid) || !parseNumber(fields[6], stat.flags) ||
      !parseNumber(fields[19], stat.startTicks)) {
    return std::nullopt;
  }
  return stat;
}

Result<ProcStat> readProcStat(std::uint32_t pid, const std::string& procRoot) {
  const std::string path = procRoot + "/" + std::to_string(pid) + "/stat";
  auto fd = openFile(path, O_RDONLY);
  if (!fd) return std::unexpected(std::move(fd.error()));
  char buffer[1024];
  const ssize_t n = read(fd->get(), buffer, sizeof buffer - 1);
  if (n < 0) return std::unexpected(errnoError("reading " + path));
  auto stat = parseStat(std::string_view(buffer, static_cast<std::size_t>(n)));
  if (!stat) return std::unexpected(makeError(EINVAL, "parsing " + path));
  return std::move(*stat);
}

Result<ProcStat> readOtherProcStat(std::uint32_t pid) {
  static BoundedWaits reads;
  auto read = reads.run(pid, std::nullopt, [pid] { return readProcStat(pid); });
  if (!read) {
    return std::unexpected(
        makeError(ETIMEDOUT, "reading /proc/" + std::to_string(pid) + "/stat (it waits)"));
  }
  return std::move(*read);
}

}  // namespace warden::base
