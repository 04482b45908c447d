#include "cli/config_files.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "db/store.h"

namespace warden::cli {

Outcome<rules::Config> readConfig(const std::filesystem::path& file) {
  if (::access(file.c_str(), R_OK) != 0) {
    const int error = errno;
    std::string message = "cannot read " + file.string() + ": " + std::strerror(error);
    if (error == ENOENT) message += " (give the engine configuration with --config)";
    return std::unexpected(Failure{exitCodeForErrno(error), std::move(message)});
  }
  auto config = rules::loadConfig(file);
  if (config) return std::move(*config);
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
        Failure{ExitCode::kPermissionDenied, db.error().message + " (run warden as root)"});
  }
  return std::unexpected(Failure{ExitCode::kError, db.error().message});
}

}  // namespace warden::cli
