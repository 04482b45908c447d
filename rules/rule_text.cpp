#include "rules/rule_text.h"

namespace warden::rules {
std::string cidrText(const Cidr& cidr) {
  std::string text = cidr.base.toString();
  const int prefix = cidr.base.isV4() ? cidr.prefix - 96 : cidr.prefix;
  if (prefix != (cidr.base.isV4() ? 32 : 128)) text += '/' + std::to_string(prefix);
  return text;
}

std::string describe(const Rule& rule) {
  std::string text{toString(rule.action)};
  text += ' ';
  text += toString(rule.direction);
  if (rule.proto != Proto::kAny) {
    text += ' ';
    text += toString(rule.proto);
  }
  if (!rule.ip.empty()) {
    text += " ip=";
    for (std::size_t i = 0; i < rule.ip.size(); ++i) {
      if (i > 0) text += ',';
      text += cidrText(rule.ip[i]);
    }
  }
  if (!rule.ports.empty()) {
    text += " ports=";
    for (std::size_t i = 0; i < rule.ports.size(); ++i) {
      if (i > 0) text += ',';
      text += std::to_string(rule.ports[i].first);
      if (rule.ports[i].last != rule.ports[i].first) {
        text += '-' + std::to_string(rule.ports[i].last);
      }
    }
  }
  if (!rule.host.empty()) text += " host=" + rule.host;
  if (rule.scope) {
    text += " scope=";
    text += toString(*rule.scope);
  }
  if (!rule.log) text += " log=false";
  if (rule.expires) text += " expires=" + formatUtc(*rule.expires);
  return text;
}

}  // namespace warden::rules
