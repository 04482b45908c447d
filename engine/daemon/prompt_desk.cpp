#include "engine/daemon/prompt_desk.h"

#include <algorithm>

#include "base/clock.h"
#include "engine/daemon/prompt_protocol.h"

namespace warden::engine {

void PromptDesk::serve(ControlServer& server, std::uint32_t timeoutS, std::uint32_t hold) {
  ControlServer::PromptTraffic traffic = server.takePromptTraffic();
  // Told first, so that a question asked from now on has someone to go to, and so that what is
  // held is released at once when the last client has left.
  const std::size_t clients = server.promptClients();
  if (clients != clients_) {
    broker_.setClients(clients);
    clients_ = clients;
  }
  for (const auto& [client, text] : traffic.lines) {
    auto answer = parsePromptAnswer(text);
    if (!answer) {
      server.sendPrompt(client, answerRefusal(answer.error()));
      continue;
    }
    const auto result = broker_.answer(answer->id, answer->action, answer->scope);
    server.sendPrompt(client, answerReply(answer->id, result));
  }
  // What happened goes to the clients that were there; a client that joined now gets the
  // questions still open instead, each once.
  events_.clear();
  broker_.takeEvents(events_);
  const std::uint64_t now = base::monotonicNs();
  const auto joined = [&traffic](std::uint64_t id) {
    return std::find(traffic.joined.begin(), traffic.joined.end(), id) != traffic.joined.end();
  };
  if (!events_.empty()) {
    for (const std::uint64_t client : server.promptClientIds()) {
      if (joined(client)) continue;
      for (const PromptEvent& event : events_) {
        server.sendPrompt(client, event.kind == PromptEvent::Kind::kAsked
                                      ? questionLine(event.question, now)
                                      : closedLine(event.question.id, event.outcome));
      }
    }
  }
  if (!traffic.joined.empty()) {
    const auto open = broker_.openQuestions();
    for (const std::uint64_t client : traffic.joined) {
      server.sendPrompt(client, promptGreeting(timeoutS, hold));
      for (const PromptQuestion& question : open) {
        server.sendPrompt(client, questionLine(question, now));
      }
    }
  }
  // A client closed while being written to counts as gone now, not at the next turn.
  if (server.promptClients() != clients_) {
    clients_ = server.promptClients();
    broker_.setClients(clients_);
  }
}

}  // namespace warden::engine
