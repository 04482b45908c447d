#include "engine/daemon/policy_record.h"

#include <openssl/evp.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <set>

#include "rules/process_info.h"
#include "rules/rule_text.h"

namespace warden::engine {

std::string sourcesDigest(const rules::Policy& policy) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  std::vector<std::string> files = {policy.config.file.string()};
  std::set<std::string> seen;
  for (const auto& profile : policy.profiles) {
    if (seen.insert(profile.file).second) files.push_back(profile.file);
  }
  for (const auto& file : files) {
    std::ifstream in(file, std::ios::binary);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EVP_DigestUpdate(ctx.get(), file.data(), file.size() + 1);  // the NUL separates name/text
    EVP_DigestUpdate(ctx.get(), text.data(), text.size());
  }
  rules::Sha256 digest{};  // EVP_sha256 writes exactly its 32 bytes
  EVP_DigestFinal_ex(ctx.get(), digest.data(), nullptr);
  return rules::toHex(digest);
}

db::PolicyRecord toRecord(const rules::Policy& policy, std::int64_t loadedAtNs) {
  db::PolicyRecord record;
  record.revision.loadedAtNs = loadedAtNs;
  record.revision.configPath = policy.config.file.string();
  record.revision.sourcesDigest = sourcesDigest(policy);
  const auto& globals = policy.config.globalRules;
  for (std::size_t i = 0; i < globals.size(); ++i) {
    record.rules.push_back({db::RuleKind::kGlobal, "", static_cast<int>(i),
                            policy.config.file.string(), globals[i].where.line, globals[i].action,
                            rules::describe(globals[i])});
  }
  for (const auto& profile : policy.profiles) {
    record.profiles.push_back({profile.name, profile.file, profile.where.line,
                               profile.defaultAction, profile.description});
    for (std::size_t i = 0; i < profile.rules.size(); ++i) {
      const auto& rule = profile.rules[i];
      record.rules.push_back({db::RuleKind::kProfile, profile.name, static_cast<int>(i),
                              profile.file, rule.where.line, rule.action, rules::describe(rule)});
    }
  }
  return record;
}

}  // namespace warden::engine
