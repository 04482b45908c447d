#include "cli/config_files.h"

#include <unistd.h>

#include <toml++/toml.h>
#include <cerrno>
#include <cstring>
#include <optional>

#include "db/store.h"

namespace warden::cli {
namespace {

// The paths of a warden.toml that parses as TOML, read as rules::loadConfig reads them
// (relative to the file's directory), whatever errors the rest of it has; nothing if the
// file is not TOML or a path is not a string.
std::optional<rules::Config> pathsOnly(const std::filesystem::path& file) {
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
  std::error_code error;
  const auto base = std::filesystem::absolute(file, error).lexically_normal().parent_path();
  rules::Config config;
  config.file = file;
  const auto path = [&](std::string_view section, std::string_view key,
                        std::filesystem::path& out) {
    const toml::node* node = table.at_path(std::string(section) + "." + std::string(key)).node();
    if (node == nullptr) return true;
    const auto* text = node->as_string();
    if (text == nullptr || text->get().empty()) return false;
    out = std::filesystem::path(text->get());
    if (out.is_relative()) out = base / out;
    return true;
  };
  if (!path("log", "db", config.logDb) || !path("profiles", "dir", config.profilesDir) ||
      !path("control", "socket", config.controlSocket)) {
    return std::nullopt;
  }
  return config;
}

}  // namespace

Outcome<rules::Config> readConfig(const std::filesystem::path& file, std::ostream& err) {
  if (::access(file.c_str(), R_OK) != 0) {
    const int error = errno;
    std::string message = "cannot read " + file.string() + ": " + std::strerror(error);
    if (error == ENOENT) message += " (give the engine configuration with --config)";
    return std::unexpected(Failure{exitCodeForErrno(error), std::move(message)});
  }
  auto config = rules::loadConfig(file);
  if (config) return std::move(*config);
  if (auto paths = pathsOnly(file)) {
    err << "warden: note: " << file.string()
        << " has errors (`warden check` lists them); using its paths anyway\n";
    return std::move(*paths);
  }
  std::string message = file.string() + " has errors (`warden check` lists them all):";
  for (const auto& diagnostic : config.error()) {
    if (diagnostic.severity == rules::Severity::kError) message += "\n  " + diagnostic.format();
  }
  return std::unexpected(Failure{ExitCode::kError, std::move(message)});
}

Outcome<db::Database> openLogDatabase(const rules::Config& config) {
  const std::filesystem::path& path = config.logDb;
  if (::access(path.c_str(), R_OK) != 0) {
    const int error = errno;
    if (error == ENOENT) {
      return std::unexpected(
          Failure{ExitCode::kNoDatabase, "no verdict log at " + path.string() +
                                             ": wardend creates it when it starts ([log] db in " +
                                             config.file.string() + ")"});
    }
    std::string message =
        "cannot read the verdict log " + path.string() + ": " + std::strerror(error);
    if (error == EACCES) message += " (run warden as root)";
    return std::unexpected(Failure{exitCodeForErrno(error), std::move(message)});
  }
  auto db = db::openStore(path, {.access = db::Access::kReadOnly});
  if (db) return std::move(*db);
  // Readable but not openable: in WAL mode a reader also needs the -shm file, which is
  // root's; for anyone else that is the likely reason.
  if (::geteuid() != 0) {
    return std::unexpected(
        Failure{ExitCode::kPermissionDenied, db.error().message() + " (run warden as root)"});
  }
  return std::unexpected(Failure{ExitCode::kError, db.error().message()});
}

}  // namespace warden::cli
