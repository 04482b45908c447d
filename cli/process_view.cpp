#include "cli/process_view.h"

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

namespace warden::cli {
namespace {

using nlohmann::json;

std::optional<std::string> nonEmptyString(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    return std::nullopt;
  }
  return it->get<std::string>();
}

std::optional<std::vector<std::string>> strings(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const auto& element : *it) {
    if (element.is_string()) out.push_back(element.get<std::string>());
  }
  return out;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Field 22 (starttime) of /proc/PID/stat; the command name before it may hold anything,
// so fields are counted after its closing parenthesis.
std::optional<std::uint64_t> startTicksOf(int pid) {
  const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(fields >> field)) return std::nullopt;
  }
  try {
    return std::stoull(field);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

rules::ProcessInfo processInfoOf(const json& process, std::optional<rules::Environment> env) {
  rules::ProcessInfo view;
  if (!process.is_object()) return view;
  view.path = nonEmptyString(process, "path");
  if (auto argv = strings(process, "argv"); argv && !argv->empty()) view.setArgv(*argv);
  const auto known = process.find("env_known");
  if (known != process.end() && *known == true) view.env = std::move(env);
  view.tags = strings(process, "tags").value_or(std::vector<std::string>{});
  if (const auto uid = process.find("uid"); uid != process.end() && uid->is_number_unsigned()) {
    view.uid = uid->get<std::uint32_t>();
  }
  view.user = nonEmptyString(process, "user");
  if (auto ancestors = strings(process, "ancestors"); ancestors && !ancestors->empty()) {
    view.ancestors = std::move(*ancestors);
  }
  if (auto hex = nonEmptyString(process, "sha256")) {
    if (auto digest = rules::parseSha256(*hex)) {
      view.sha256 = [digest = *digest]() -> std::optional<rules::Sha256> { return digest; };
    }
  }
  return view;
}

std::optional<rules::Environment> readEnvironment(int pid, std::uint64_t startTicks) {
  if (startTicksOf(pid) != startTicks) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  if (!in) return std::nullopt;
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // Read after the file: a pid reused meanwhile would show another start time.
  if (startTicksOf(pid) != startTicks) return std::nullopt;
  rules::Environment env;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\0', start);
    if (end == std::string::npos) end = text.size();
    const std::string_view entry(text.data() + start, end - start);
    if (const auto eq = entry.find('='); eq != std::string_view::npos) {
      env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    start = end + 1;
  }
  return env;
}

}  // namespace warden::cli
