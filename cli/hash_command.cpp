#include "cli/hash_command.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/file_digest.h"
#include "cli/json_output.h"
#include "cli/table.h"

namespace warden::cli {

int runHash(const std::vector<std::string>& files, bool json, std::ostream& out,
            std::ostream& err) {
  ExitCode status = ExitCode::kOk;
  for (const auto& file : files) {
    auto digest = sha256File(file);
    if (!digest) {
      if (status == ExitCode::kOk) status = digest.error().code;
      // With --json every file gets its line, the unreadable ones {"file", "ok": false, ...}.
      if (json) {
        nlohmann::json failed = failureJson(digest.error());
        failed["file"] = file;
        out << jsonLine(failed) << '\n';
      }
      report(digest.error(), err);
      continue;
    }
    // The engine hashes the executed image, which is the file behind any symbolic link.
    std::error_code ec;
    const auto resolved = std::filesystem::canonical(file, ec);
    const std::string target = ec ? file : resolved.string();
    if (json) {
      out << jsonLine({{"file", file}, {"path", target}, {"sha256", *digest}}) << '\n';
      continue;
    }
    out << "sha256 = [\"" << *digest << "\"]  # " << printable(file);
    if (target != file) out << " -> " << printable(target);
    out << '\n';
  }
  return toInt(status);
}

Command addHashCommand(CLI::App& app, std::string& configPath) {
  CLI::App* hash = addSubcommand(
      app, "hash", "The SHA-256 of a file, to pin in a profile's [[match]]", configPath);
  auto files = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  hash->add_option("FILE", *files, "the executable (or any file) to hash")->required();
  hash->add_flag("--json", *json,
                 "one JSON object per file: file, path (links resolved), sha256; or "
                 "file, ok false and the error");
  return {hash, [files, json] { return runHash(*files, *json, std::cout, std::cerr); }};
}

}  // namespace warden::cli
