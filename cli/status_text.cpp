#include "cli/status_text.h"

#include <algorithm>
#include <array>
#include <string>
#include <string_view>

#include "cli/table.h"
#include "cli/time_text.h"

namespace warden::cli {
namespace {

using nlohmann::json;

constexpr std::size_t kLabelWidth = 13;

// The per-queue and total counters the daemon sends, in the order the table shows them.
struct Counter {
  std::string_view key;
  std::string_view header;
};
constexpr std::array kQueueCounters = {
    Counter{"packets", "PACKETS"},
    Counter{"allow", "ALLOW"},
    Counter{"deny", "DENY"},
    Counter{"reject", "REJECT"},
    Counter{"learn", "LEARN"},
    Counter{"kernel", "KERNEL"},
    Counter{"malformed", "MALFORMED"},
    Counter{"queue_drops", "DROPS"},
    Counter{"enobufs", "ENOBUFS"},
    Counter{"waiting", "WAITING"},
    Counter{"verdict_errors", "ERRORS"},
    Counter{"max_latency_us", "MAX_US"},
};
// Totals the lines below mention by name; any other is listed as it comes.
constexpr std::array<std::string_view, 26> kKnownTotals = {
    "packets",         "allow",          "deny",
    "reject",          "learn",          "kernel",
    "malformed",       "queue_drops",    "passed_undecided",
    "enobufs",         "verdict_errors", "verdict_retries",
    "waiting",         "misses",         "max_latency_us",
    "dns_replies",     "dns_answers",    "dns_malformed",
    "dns_unsolicited", "dns_queries",    "dns_queries_evicted",
    "invalid",         "repeats",        "dns_confirmations",
    "dns_unconfirmed", "foreign_source",
};

std::string text(const json& object, std::string_view key, std::string_view fallback = "?") {
  const auto it = object.find(key);
  if (it == object.end()) return std::string(fallback);
  if (it->is_string()) return it->get<std::string>();
  if (it->is_null()) return std::string(fallback);
  return it->dump();
}

std::uint64_t count(const json& object, std::string_view key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) return 0;
  return it->is_number_unsigned() ? it->get<std::uint64_t>()
                                  : static_cast<std::uint64_t>(std::max<std::int64_t>(0, *it));
}

std::int64_t number(const json& object, std::string_view key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

const json& member(const json& object, std::string_view key) {
  static const json kEmpty = json::object();
  const auto it = object.find(key);
  return it != object.end() && it->is_object() ? *it : kEmpty;
}

std::string counted(std::uint64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

void line(std::ostream& out, std::string_view label, const std::string& value) {
  std::string padded(label);
  padded.resize(kLabelWidth, ' ');
  out << padded << printable(value) << '\n';
}

std::string when(std::int64_t ns, std::int64_t nowNs) {
  if (ns <= 0) return "at an unknown time";
  return localTime(ns) + " (" + formatAge(nowNs - ns) + " ago)";
}

std::string methodText(const std::string& method) {
  if (method == "none") return "none: no process can be attributed, every flow is unknown";
  if (method == "ebpf") return "ebpf (connect-hook flow map)";
  if (method == "sock_diag") return "sock_diag (+ /proc fallback; eBPF is off or unavailable)";
  return method;
}

// The attribution method and its counters (the daemon's "attribution" object).
void printAttribution(const json& status, std::ostream& out) {
  line(out, "attribution", methodText(text(status, "method")));
  const json& a = member(status, "attribution");
  if (a.empty()) return;
  if (a.contains("ebpf_error")) line(out, "", "eBPF not used: " + text(a, "ebpf_error"));
  std::string flows = std::to_string(count(a, "hits")) + " flows attributed, " +
                      std::to_string(count(a, "misses")) +
                      (count(a, "misses") == 1 ? " miss, " : " misses, ") +
                      std::to_string(count(a, "kernel")) + " kernel-owned";
  if (count(a, "describe_misses") > 0) {
    flows += ", " + std::to_string(count(a, "describe_misses")) + " decided before described";
  }
  // Owners that wardend's pid namespace does not number (it runs in a container and the
  // attached cgroup holds processes of the host): decided as unknown.
  if (count(a, "outside_pid_namespace") > 0) {
    flows += ", " + std::to_string(count(a, "outside_pid_namespace")) +
             " outside wardend's pid namespace (unknown)";
  }
  if (count(a, "fallback_errors") > 0) {
    flows += ", " + std::to_string(count(a, "fallback_errors")) + " sock_diag errors";
  }
  line(out, "", flows);
  if (a.contains("flow_capacity")) {
    std::string map = "flow map " + std::to_string(count(a, "flow_entries")) + " of " +
                      std::to_string(count(a, "flow_capacity")) + " entries, " +
                      std::to_string(count(a, "evictions")) + " evicted, " +
                      std::to_string(count(member(a, "bpf"), "events_lost")) + " events lost";
    // Lookups the in-memory mirror could not answer cost a syscall each: worth seeing if many.
    if (const std::uint64_t slow = count(member(a, "bpf"), "lookups_by_syscall"); slow > 0) {
      map += ", " + std::to_string(slow) + " looked up by syscall";
    }
    line(out, "", map);
  }
  const json& processes = member(a, "processes");
  if (!processes.empty()) {
    line(out, "",
         std::to_string(count(processes, "entries")) + " processes known, " +
             std::to_string(count(member(a, "hash_cache"), "entries")) + " image hashes cached");
    // What a storm of processes cost: only worth a line once a bound was reached.
    const json& held = member(a, "held_images");
    if (count(processes, "evicted") > 0 || count(held, "refused") > 0) {
      line(out, "",
           std::to_string(count(processes, "evicted")) + " dropped at the bounds (" +
               std::to_string(count(processes, "bound")) + " processes, " +
               std::to_string(count(processes, "exited_bound")) + " exited), " +
               std::to_string(count(held, "held")) + " images held open of " +
               std::to_string(count(held, "bound")) + ", " +
               std::to_string(count(held, "refused")) + " refused");
    }
    // Processes whose /proc made wardend wait: worth a line once one did.
    const json& reads = member(a, "proc_reads");
    if (count(reads, "late") > 0 || count(reads, "refused") > 0) {
      line(out, "",
           std::to_string(count(reads, "late")) + " /proc reads past their deadline, " +
               std::to_string(count(reads, "stuck")) + " still waiting in the kernel, " +
               std::to_string(count(reads, "refused")) + " not started for them");
    }
  }
}

// Host names learned from DNS replies (the daemon's "dns" object and dns_* totals).
void printDns(const json& status, std::ostream& out) {
  const json& dns = member(status, "dns");
  if (dns.empty()) return;
  const auto enabled = dns.find("enabled");
  if (enabled == dns.end() || *enabled != true) {
    line(out, "dns", "off: no flow has a host name, no `host` rule matches");
    return;
  }
  const json& totals = member(status, "totals");
  const std::uint64_t queries = count(totals, "dns_queries");
  const std::uint64_t replies = count(totals, "dns_replies");
  const std::uint64_t answers = count(totals, "dns_answers");
  const std::uint64_t evicted = count(totals, "dns_queries_evicted");
  const std::uint64_t unconfirmed = count(totals, "dns_unconfirmed");
  // Replies that answer no query of their flow teach nothing (SPEC section 7).
  line(
      out, "dns",
      std::to_string(queries) + (queries == 1 ? " query, " : " queries, ") +
          std::to_string(replies) + (replies == 1 ? " reply" : " replies") + " read, " +
          std::to_string(answers) + (answers == 1 ? " address" : " addresses") + " learned, " +
          std::to_string(count(totals, "dns_malformed")) + " malformed, " +
          std::to_string(count(totals, "dns_unsolicited")) + " unsolicited" +
          (unconfirmed ? ", " + std::to_string(unconfirmed) + " not confirmed by the server" : "") +
          (evicted ? ", " + std::to_string(evicted) + " unanswered queries pushed out" : "") +
          "; " + std::to_string(count(dns, "hosts")) + " of " +
          std::to_string(count(dns, "capacity")) + " host names kept");
}

// The decisions held in the kernel (the daemon's "kernel_verdicts" object; SPEC section 12).
void printHeld(const json& status, std::ostream& out) {
  const auto found = status.find("kernel_verdicts");
  if (found == status.end() || !found->is_object()) return;  // an older wardend
  const json& held = *found;
  const auto enabled = held.find("enabled");
  if (enabled == held.end() || *enabled != true) {
    line(out, "kernel-held", "off: " + text(held, "reason", "kernel_verdicts = false"));
    return;
  }
  const json& hits = member(held, "hits");
  const json& gone = member(held, "invalidations");
  line(out, "kernel-held",
       std::to_string(count(held, "entries")) + " of " + text(held, "capacity") +
           " verdicts live (ttl " + text(held, "ttl") + " s), " +
           std::to_string(count(held, "written")) +
           " held so far; flows decided by them: " + std::to_string(count(hits, "allow")) +
           " allowed, " + std::to_string(count(hits, "deny")) + " denied, " +
           std::to_string(count(hits, "reject")) + " rejected");
  line(out, "",
       "ended by " + std::to_string(count(gone, "reload")) + " policy changes, " +
           std::to_string(count(gone, "dns")) + " new host names; " +
           std::to_string(count(gone, "stale")) + " lookups found one out of date, " +
           std::to_string(count(gone, "expired")) + " expired");
}

// What the control socket's deadlines and bounds did (the daemon's "control" object); shown
// only once they cut a client off, as nothing is wrong before.
void printControl(const json& status, std::ostream& out) {
  const json& control = member(status, "control");
  const std::uint64_t late = count(control, "request_late");
  const std::uint64_t tooLong = count(control, "request_too_long");
  const std::uint64_t notTaken = count(control, "answer_not_taken");
  const std::uint64_t evicted = count(control, "evicted");
  if (late + tooLong + notTaken + evicted == 0) return;
  line(out, "control",
       "clients cut off: " + std::to_string(late) + " sent no request in time, " +
           std::to_string(tooLong) + " sent a request too long, " + std::to_string(notTaken) +
           " did not take their answer in time, " + std::to_string(evicted) +
           " closed for newer ones (at most " + text(control, "max_clients") + " at once)");
}

// What `warden prompt` was asked and answered (the daemon's "prompt" object); shown once a
// prompt client has connected or an until-restart answer decides flows.
void printPrompt(const json& status, std::ostream& out) {
  const json& prompt = member(status, "prompt");
  const std::uint64_t clients = count(prompt, "clients");
  const std::uint64_t questions = count(prompt, "questions");
  if (clients + questions + count(prompt, "remembered_answers") == 0) return;
  line(out, "prompt",
       counted(clients, "client") + ", " + counted(count(prompt, "held"), "flow") +
           " held now (timeout " + text(prompt, "timeout") + " s, hold " + text(prompt, "hold") +
           "); " + counted(questions, "question") + ": " +
           std::to_string(count(prompt, "answers")) + " answered, " +
           std::to_string(count(prompt, "timeouts")) + " timed out, " +
           std::to_string(count(prompt, "released")) + " released");
  line(out, "",
       std::to_string(count(prompt, "hold_full")) + " not held (hold full), " +
           std::to_string(count(prompt, "duplicates_dropped")) +
           " packets of held flows dropped, " +
           std::to_string(count(prompt, "remembered_decisions")) + " flows decided by " +
           std::to_string(count(prompt, "remembered_answers")) + " until-restart answers");
}

std::string queueList(const json& queues) {
  std::string list;
  if (!queues.is_array()) return "?";
  for (const auto& queue : queues) {
    if (!list.empty()) list += ", ";
    list += text(queue, "queue");
  }
  return list.empty() ? "none" : list;
}

void printQueues(const json& status, std::ostream& out, const Palette& palette) {
  const auto queues = status.find("queues");
  if (queues == status.end() || !queues->is_array() || queues->empty()) return;
  std::vector<Table::Column> columns = {{"QUEUE", Table::Align::kRight}};
  for (const auto& counter : kQueueCounters) {
    columns.push_back({std::string(counter.header), Table::Align::kRight});
  }
  Table table(std::move(columns));
  table.paint(palette);
  for (const auto& queue : *queues) {
    std::vector<std::string> cells = {text(queue, "queue")};
    for (const auto& counter : kQueueCounters) cells.push_back(text(queue, counter.key, "-"));
    table.addRow(std::move(cells));
  }
  out << '\n';
  table.print(out);
}

}  // namespace

void printStatus(const json& status, std::int64_t nowNs, std::ostream& out,
                 const Palette& palette) {
  const std::int64_t started = number(status, "started_at_ns");
  std::string daemon = "running, pid " + text(status, "pid");
  if (started > 0) {
    daemon += ", up " + formatAge(nowNs - started) + " (since " + localTime(started) + ")";
  }
  // An older wardend sends no version: the line then says nothing about it.
  if (const auto version = status.find("version");
      version != status.end() && version->is_string()) {
    daemon += ", version " + version->get<std::string>();
  }
  line(out, "wardend", daemon);
  line(out, "mode", text(status, "mode") + ", fail " + text(status, "fail"));
  printAttribution(status, out);
  line(out, "queues",
       queueList(status.value("queues", json())) + " through " + text(status, "queue_method"));

  const json& policy = member(status, "policy");
  line(out, "policy",
       "revision " + text(policy, "revision") + ", loaded " +
           when(number(policy, "loaded_at_ns"), nowNs) + ", " +
           counted(count(policy, "profiles"), "profile"));
  if (policy.contains("config")) line(out, "", "from " + text(policy, "config"));

  const json& totals = member(status, "totals");
  line(out, "flows",
       std::to_string(count(totals, "packets")) +
           " decided: " + std::to_string(count(totals, "allow")) + " allowed, " +
           std::to_string(count(totals, "deny")) + " denied, " +
           std::to_string(count(totals, "reject")) + " rejected");
  std::string detail = std::to_string(count(totals, "kernel")) + " kernel-generated";
  if (totals.contains("misses")) {
    detail += ", " + std::to_string(count(totals, "misses")) + " attribution misses";
  }
  detail += ", " + std::to_string(count(totals, "learn")) +
            " blocked by the policy but accepted in learn mode";
  line(out, "", detail);
  std::string problems = std::to_string(count(totals, "malformed")) + " malformed packets, " +
                         std::to_string(count(totals, "queue_drops")) + " queue drops, ";
  if (totals.contains("passed_undecided")) {  // the kernel passed them: a full queue failing open
    problems += std::to_string(count(totals, "passed_undecided")) + " passed undecided, ";
  }
  problems += std::to_string(count(totals, "enobufs")) + " ENOBUFS, " +
              std::to_string(count(totals, "verdict_errors")) + " verdict errors";
  if (totals.contains(
          "verdict_retries")) {  // sends of a verdict that had failed for a passing reason
    problems += " (" + std::to_string(count(totals, "verdict_retries")) + " retries)";
  }
  if (totals.contains("invalid")) {  // counted by the table (rule 1d), not by the workers
    problems += ", " + std::to_string(count(totals, "invalid")) + " invalid packets " +
                (text(status, "invalid") == "accept" ? "accepted" : "dropped");
  }
  if (count(totals, "foreign_source") > 0) {  // rule 1f: sent from an address not the host's
    problems += ", " + std::to_string(count(totals, "foreign_source")) +
                " new flows from a foreign source address dropped";
  }
  line(out, "problems", problems);
  std::string others;
  for (const auto& [key, value] : totals.items()) {
    bool known = false;
    for (auto name : kKnownTotals) known = known || key == name;
    if (!known) others += (others.empty() ? "" : ", ") + key + " " + value.dump();
  }
  if (!others.empty()) line(out, "", others);
  printDns(status, out);
  printHeld(status, out);

  const json& log = member(status, "log");
  const auto enabledField = log.find("enabled");
  const bool enabled = enabledField != log.end() && *enabledField == true;
  line(out, "verdict log", text(log, "db") + (enabled ? "" : " (not written: see error)"));
  if (enabled) {
    line(out, "",
         std::to_string(count(log, "written")) + " rows written, " +
             std::to_string(count(log, "dropped")) + " dropped, " +
             std::to_string(count(log, "failed")) + " failed, " +
             std::to_string(count(log, "backlog")) + " waiting, " +
             std::to_string(count(log, "expired")) + " expired by retention");
    if (totals.contains("repeats")) {
      line(out, "",
           std::to_string(count(totals, "repeats")) +
               " repeated decisions not written again (the same flow, process and verdict)");
    }
  }
  if (log.contains("error") && !text(log, "error", "").empty()) {
    line(out, "", "error: " + text(log, "error"));
  }
  printControl(status, out);
  printPrompt(status, out);
  printQueues(status, out, palette);
}

}  // namespace warden::cli
