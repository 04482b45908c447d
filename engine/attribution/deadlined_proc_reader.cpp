#include "engine/attribution/deadlined_proc_reader.h"

#include <cerrno>
#include <utility>

namespace warden::engine {
namespace {

base::Error notReadInTime(std::uint32_t pid) {
  return base::makeError(
      ETIMEDOUT, "reading /proc/" + std::to_string(pid) + " (its reads wait in the kernel)");
}

}  // namespace

DeadlinedProcReader::DeadlinedProcReader(std::string root, base::BoundedWaits::Options options)
    : reader_(std::move(root)), deadlines_(std::make_shared<base::BoundedWaits>(options)) {}

base::Result<base::ProcStat> DeadlinedProcReader::stat(std::uint32_t pid,
                                                       std::optional<std::uint32_t> uid) const {
  if (!uid) uid = uidOf(pid);
  auto read = deadlines_->run(pid, uid, [reader = reader_, pid] { return reader.stat(pid); });
  if (!read) return std::unexpected(notReadInTime(pid));
  return std::move(*read);
}

bool DeadlinedProcReader::gone(std::uint32_t pid, std::uint64_t startTicks) const {
  return deadlines_
      ->run(pid, uidOf(pid),
            [reader = reader_, pid, startTicks] { return reader.gone(pid, startTicks); })
      .value_or(false);
}

bool DeadlinedProcReader::complete(ProcessDescription& info, base::ProcStat* lastStat,
                                   bool uidKnown) const {
  struct Read {
    bool complete = false;
    ProcessDescription info;
    base::ProcStat lastStat;
  };
  auto read =
      deadlines_->run(info.key.pid, uidKnown ? std::optional(info.uid) : uidOf(info.key.pid),
                      [reader = reader_, info]() mutable {
                        Read out;
                        out.complete = reader.complete(info, &out.lastStat);
                        out.info = std::move(info);
                        return out;
                      });
  if (!read || !read->complete) return false;
  info = std::move(read->info);
  if (lastStat) *lastStat = std::move(read->lastStat);
  return true;
}

std::optional<std::string> DeadlinedProcReader::exePath(std::uint32_t pid,
                                                        std::uint64_t startTicks) const {
  return deadlines_
      ->run(pid, uidOf(pid),
            [reader = reader_, pid, startTicks] { return reader.exePath(pid, startTicks); })
      .value_or(std::nullopt);
}

std::optional<std::uint32_t> DeadlinedProcReader::uidOf(std::uint32_t pid) const {
  return deadlines_->run(pid, std::nullopt, [reader = reader_, pid] { return reader.ids(pid); })
      .value_or(std::nullopt)
      .transform([](const auto& ids) { return ids.first; });
}

std::optional<ProcessDescription> DeadlinedProcReader::describe(std::uint32_t pid) const {
  const auto uid = uidOf(pid);
  if (!uid) return std::nullopt;
  return deadlines_->run(pid, uid, [reader = reader_, pid] { return reader.describe(pid); })
      .value_or(std::nullopt);
}

std::vector<std::uint64_t> DeadlinedProcReader::socketInodes(std::uint32_t pid) const {
  return deadlines_
      ->run(pid, uidOf(pid), [reader = reader_, pid] { return reader.socketInodes(pid); })
      .value_or(std::vector<std::uint64_t>{});
}

std::optional<DeadlinedProcReader::Sockets> DeadlinedProcReader::sockets(std::uint32_t pid) const {
  return deadlines_
      ->run(pid, uidOf(pid),
            [reader = reader_, pid]() -> std::optional<Sockets> {
              Sockets out{.inodes = reader.socketInodes(pid)};
              if (out.inodes.empty()) return out;
              auto stat = reader.stat(pid);
              if (!stat) return std::nullopt;
              out.startTicks = stat->startTicks;
              return out;
            })
      .value_or(std::nullopt);
}

base::Result<base::UniqueFd> DeadlinedProcReader::openImage(
    std::uint32_t pid, std::optional<std::uint32_t> uid) const {
  // The descriptor of a late open is closed by its reader, wherever the open ends.
  auto read = deadlines_->run(pid, uid, [reader = reader_, pid] { return reader.openImage(pid); });
  if (!read) return std::unexpected(notReadInTime(pid));
  return std::move(*read);
}

bool DeadlinedProcReader::seesHostFile(std::uint32_t pid, std::optional<std::uint32_t> uid,
                                       const std::string& path,
                                       std::optional<std::string> cwd) const {
  return deadlines_
      ->run(pid, uid,
            [reader = reader_, pid, path, cwd] {
              return reader.seesHostFile(pid, path, cwd ? &*cwd : nullptr);
            })
      .value_or(false);
}

bool DeadlinedProcReader::cwdIs(std::uint32_t pid, std::optional<std::uint32_t> uid,
                                std::uint32_t mountId, std::uint64_t inode) const {
  return deadlines_
      ->run(pid, uid,
            [reader = reader_, pid, mountId, inode] { return reader.cwdIs(pid, mountId, inode); })
      .value_or(false);
}

}  // namespace warden::engine
