#include "rules/config.h"

#include <bit>
#include <system_error>

#include "rules/config_draft.h"
#include "rules/policy_file.h"
#include "rules/rule_codec.h"
#include "rules/toml_reader.h"

namespace warden::rules {
namespace {

constexpr std::int64_t kMaxQueueLength = 1048576;
constexpr std::int64_t kMaxRetentionDays = 36500;
// A question longer than five minutes holds a connection past every client's patience; more
// than 1024 held flows would be a queue of questions nobody reads.
constexpr std::int64_t kMaxPromptTimeoutS = 300;
constexpr std::int64_t kMaxPromptHold = 1024;
// A held verdict lives a day at most; tables of a few entries would only churn.
constexpr std::int64_t kMaxHeldTtlS = 86400;
constexpr std::int64_t kMinHeldEntries = 16;
constexpr std::int64_t kMaxHeldEntries = 1 << 20;

std::optional<FailMode> parseFailMode(std::string_view text) {
  if (text == "open") return FailMode::kOpen;
  if (text == "closed") return FailMode::kClosed;
  return std::nullopt;
}

// `[engine] invalid`: true = "drop".
std::optional<bool> parseInvalid(std::string_view text) {
  if (text == "drop") return true;
  if (text == "accept") return false;
  return std::nullopt;
}

std::filesystem::path directoryOf(const std::filesystem::path& file) {
  std::error_code error;
  auto absolute = std::filesystem::absolute(file, error);
  if (error) return file.parent_path();
  return absolute.lexically_normal().parent_path();
}

// Reads one warden.toml into a Config, section by section, reporting every bad value.
class ConfigReader {
 public:
  ConfigReader(TomlReader& reader, const std::filesystem::path& file)
      : reader_(reader), base_(directoryOf(file)) {
    config_.file = base_ / file.filename();
  }

  Config read(const toml::table& root) {
    for (auto&& [key, value] : root) {
      const std::string_view name = key.str();
      if (name == "engine") {
        section(value, name, &ConfigReader::readEngine);
      } else if (name == "attribution") {
        section(value, name, &ConfigReader::readAttribution);
      } else if (name == "log") {
        section(value, name, &ConfigReader::readLog);
      } else if (name == "profiles") {
        const std::size_t errorsBefore = reader_.errorCount();
        section(value, name, &ConfigReader::readProfiles);
        profilesDirKnown_ = reader_.errorCount() == errorsBefore;
      } else if (name == "control") {
        section(value, name, &ConfigReader::readControl);
      } else if (name == "prompt") {
        section(value, name, &ConfigReader::readPrompt);
      } else if (name == "rule") {
        config_.globalRules = readRules(value, reader_);
      } else if (value.is_array_of_tables()) {
        reader_.error(reader_.at(key), "unknown section [[" + std::string(name) + "]]");
      } else if (value.is_table()) {
        reader_.error(reader_.at(key), "unknown section [" + std::string(name) + "]");
      } else {
        reader_.error(reader_.at(key), "unknown key '" + std::string(name) + "'");
      }
    }
    return std::move(config_);
  }

  // False if the [profiles] section had an error, so profilesDir is not the user's.
  bool profilesDirKnown() const { return profilesDirKnown_; }

 private:
  using SectionReader = void (ConfigReader::*)(const toml::table&);

  void section(const toml::node& value, std::string_view name, SectionReader readSection) {
    if (const auto* table = reader_.table(value, name)) (this->*readSection)(*table);
  }

  template <typename T, typename Parse>
  void enumeration(const toml::table& table, std::string_view key, Parse parse,
                   std::string_view choices, T& out) {
    if (const auto* value = table.get(key)) {
      if (auto parsed = reader_.enumeration(*value, key, parse, choices)) out = *parsed;
    }
  }

  void boolean(const toml::table& table, std::string_view key, bool& out) {
    if (const auto* value = table.get(key)) {
      if (auto parsed = reader_.boolean(*value, key)) out = *parsed;
    }
  }

  void path(const toml::table& table, std::string_view key, std::filesystem::path& out) {
    if (const auto* value = table.get(key)) {
      if (auto text = reader_.nonEmptyString(*value, key)) out = resolve(*text);
    }
  }

  std::filesystem::path resolve(std::string_view text) const {
    std::filesystem::path path(text);
    if (path.is_relative()) path = base_ / path;
    return path.lexically_normal();
  }

  void readEngine(const toml::table& table) {
    reader_.rejectUnknownKeys(table,
                              {"mode", "default", "unknown", "kernel", "fail", "queues", "inbound",
                               "dns", "invalid", "mark_mask", "queue_maxlen", "kernel_verdicts",
                               "kernel_verdicts_ttl", "kernel_verdicts_entries"},
                              "[engine]");
    enumeration(table, "mode", parseMode, "enforce or learn", config_.mode);
    constexpr std::string_view kActions = "allow, deny or reject";
    enumeration(table, "default", parseAction, kActions, config_.defaultAction);
    enumeration(table, "unknown", parseAction, kActions, config_.unknownAction);
    enumeration(table, "kernel", parseAction, kActions, config_.kernelAction);
    // `unknown` decides for a process that cannot be told (SPEC section 4), which any program
    // can arrange for itself: laxer than `default`, it is a way past every profile.
    if (const auto* value = table.get("unknown"); value &&
                                                  config_.unknownAction == Action::kAllow &&
                                                  config_.defaultAction != Action::kAllow) {
      reader_.warning(reader_.at(*value),
                      "'unknown = \"allow\"' is laxer than 'default = \"" +
                          std::string(toString(config_.defaultAction)) +
                          "\"': any program can make itself unknown (a command line longer than "
                          "wardend reads, an executable replaced without exec) and be allowed");
    }
    enumeration(table, "fail", parseFailMode, "open or closed", config_.fail);
    if (const auto* value = table.get("queues")) readQueues(*value);
    boolean(table, "inbound", config_.inbound);
    boolean(table, "dns", config_.dns);
    enumeration(table, "invalid", parseInvalid, "drop or accept", config_.dropInvalid);
    if (const auto* value = table.get("mark_mask")) {
      if (auto mask = reader_.integerIn(*value, "mark_mask", 0, 0xffffffff)) {
        if (std::popcount(static_cast<std::uint64_t>(*mask)) < 2) {
          reader_.error(reader_.at(*value), "'mark_mask' must have at least two bits set");
        } else {
          config_.markMask = static_cast<std::uint32_t>(*mask);
        }
      }
    }
    if (const auto* value = table.get("queue_maxlen")) {
      if (auto length = reader_.integerIn(*value, "queue_maxlen", 1, kMaxQueueLength)) {
        config_.queueMaxLen = static_cast<std::uint32_t>(*length);
      }
    }
    boolean(table, "kernel_verdicts", config_.kernelVerdicts);
    if (const auto* value = table.get("kernel_verdicts_ttl")) {
      if (auto seconds = reader_.integerIn(*value, "kernel_verdicts_ttl", 1, kMaxHeldTtlS)) {
        config_.kernelVerdictsTtlS = static_cast<std::uint32_t>(*seconds);
      }
    }
    if (const auto* value = table.get("kernel_verdicts_entries")) {
      if (auto entries = reader_.integerIn(*value, "kernel_verdicts_entries", kMinHeldEntries,
                                           kMaxHeldEntries)) {
        config_.kernelVerdictsEntries = static_cast<std::uint32_t>(*entries);
      }
    }
  }

  void readQueues(const toml::node& value) {
    const auto* list = reader_.array(value, "queues");
    if (!list) return;
    if (list->empty()) {
      reader_.error(reader_.at(value), "'queues' must not be empty");
      return;
    }
    std::vector<std::uint16_t> queues;
    bool valid = true;
    for (const auto& element : *list) {
      const auto* number = element.as_integer();
      if (!number) {
        reader_.error(reader_.at(element), "expected an integer in 'queues', got " +
                                               std::string(TomlReader::typeName(element)));
        valid = false;
        continue;
      }
      if (number->get() < 0 || number->get() > 65535) {
        reader_.error(reader_.at(element), "queue number " + std::to_string(number->get()) +
                                               " is out of range (0 to 65535)");
        valid = false;
        continue;
      }
      const auto queue = static_cast<std::uint16_t>(number->get());
      if (valid && !queues.empty() && queue != queues.back() + 1) {
        reader_.error(reader_.at(element), "'queues' must be consecutive numbers");
        valid = false;
      }
      queues.push_back(queue);
    }
    if (valid) config_.queues = std::move(queues);
  }

  void readAttribution(const toml::table& table) {
    reader_.rejectUnknownKeys(table, {"ebpf", "cgroup", "flow_entries"}, "[attribution]");
    boolean(table, "ebpf", config_.ebpf);
    if (const auto* value = table.get("flow_entries")) {
      if (auto entries = reader_.integerIn(*value, "flow_entries", 1024, 1 << 22)) {
        config_.flowEntries = static_cast<std::uint32_t>(*entries);
      }
    }
    if (const auto* value = table.get("cgroup")) {
      if (auto text = reader_.nonEmptyString(*value, "cgroup")) {
        config_.cgroup = *text == "auto" ? std::string(*text) : resolve(*text).string();
      }
    }
  }

  void readLog(const toml::table& table) {
    reader_.rejectUnknownKeys(table, {"db", "retention_days", "allowed"}, "[log]");
    path(table, "db", config_.logDb);
    if (const auto* value = table.get("retention_days")) {
      if (auto days = reader_.integerIn(*value, "retention_days", 1, kMaxRetentionDays)) {
        config_.retentionDays = static_cast<int>(*days);
      }
    }
    boolean(table, "allowed", config_.logAllowed);
  }

  void readProfiles(const toml::table& table) {
    reader_.rejectUnknownKeys(table, {"dir"}, "[profiles]");
    path(table, "dir", config_.profilesDir);
  }

  void readControl(const toml::table& table) {
    reader_.rejectUnknownKeys(table, {"socket"}, "[control]");
    path(table, "socket", config_.controlSocket);
  }

  void readPrompt(const toml::table& table) {
    reader_.rejectUnknownKeys(table, {"timeout", "hold"}, "[prompt]");
    if (const auto* value = table.get("timeout")) {
      if (auto seconds = reader_.integerIn(*value, "timeout", 1, kMaxPromptTimeoutS)) {
        config_.promptTimeoutS = static_cast<std::uint32_t>(*seconds);
      }
    }
    if (const auto* value = table.get("hold")) {
      if (auto hold = reader_.integerIn(*value, "hold", 1, kMaxPromptHold)) {
        config_.promptHold = static_cast<std::uint32_t>(*hold);
      }
    }
  }

  TomlReader& reader_;
  std::filesystem::path base_;
  Config config_;
  bool profilesDirKnown_ = true;
};

}  // namespace

ConfigDraft readConfigDraft(std::string_view text, const std::filesystem::path& file) {
  ConfigDraft draft;
  try {
    TomlReader reader(file.string());
    if (auto root = reader.parse(text)) {
      ConfigReader configReader(reader, file);
      draft.config = configReader.read(*root);
      draft.profilesDirKnown = configReader.profilesDirKnown();
    }
    draft.failed = reader.errorCount() > 0;
    draft.diagnostics = reader.take();
  } catch (const std::exception& e) {
    // Only allocation failures get here; the boundary still must not throw.
    draft.failed = true;
    draft.diagnostics.push_back(
        Diagnostic{Severity::kError, SourceLocation{file.string(), 0, 0}, e.what()});
  }
  return draft;
}

std::expected<Config, Diagnostics> parseConfig(std::string_view text,
                                               const std::filesystem::path& file,
                                               Diagnostics* warnings) {
  ConfigDraft draft = readConfigDraft(text, file);
  if (draft.failed) return std::unexpected(std::move(draft.diagnostics));
  if (warnings) {
    warnings->insert(warnings->end(), draft.diagnostics.begin(), draft.diagnostics.end());
  }
  return std::move(*draft.config);
}

std::expected<Config, Diagnostics> loadConfig(const std::filesystem::path& file,
                                              Diagnostics* warnings) {
  auto text = readPolicyFile(file);
  if (!text) return std::unexpected(Diagnostics{std::move(text.error())});
  return parseConfig(*text, file, warnings);
}

}  // namespace warden::rules
