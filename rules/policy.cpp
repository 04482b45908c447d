#include "rules/policy.h"

#include <algorithm>
#include <system_error>

#include "rules/policy_file.h"
#include "rules/policy_loader.h"

namespace warden::rules {

std::expected<std::vector<std::filesystem::path>, Diagnostic> listProfileFiles(
    const std::filesystem::path& directory) {
  if (auto problem = checkPolicyDirectory(directory)) return std::unexpected(std::move(*problem));
  std::error_code error;
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(directory, error);
  for (; !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    const auto& path = it->path();
    const std::string name = path.filename().string();
    if (name.starts_with('.') || path.extension() != ".toml") continue;
    std::error_code typeError;
    if (it->is_directory(typeError)) continue;
    files.push_back(path);
  }
  if (error) {
    return std::unexpected(Diagnostic{Severity::kError, SourceLocation{directory.string(), 0, 0},
                                      "cannot list directory: " + error.message()});
  }
  std::ranges::sort(files, [](const auto& a, const auto& b) {
    return a.filename().string() < b.filename().string();
  });
  return files;
}

std::expected<Policy, Diagnostics> loadPolicy(Config config, Diagnostics* warnings) {
  return PolicyLoader().load(std::move(config), warnings);
}

std::expected<Policy, Diagnostics> loadPolicy(const std::filesystem::path& configFile,
                                              Diagnostics* warnings) {
  return PolicyLoader().load(configFile, warnings);
}

}  // namespace warden::rules
