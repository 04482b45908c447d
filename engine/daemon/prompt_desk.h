#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/daemon/control_server.h"
#include "engine/verdict/prompt_broker.h"

namespace warden::engine {

// The control thread's side of `warden prompt`: between the prompt clients of the control
// socket and the PromptBroker the queue workers ask. Tells the broker how many clients there
// are (none: what is held goes at once), greets new clients with the questions still open,
// hands answers to the broker, and sends out the broker's questions and closings.
// Control thread only.
class PromptDesk {
 public:
  explicit PromptDesk(PromptBroker& broker) : broker_(broker) {}

  // After ControlServer::serve, and whenever the broker's eventFd() is readable.
  // `timeoutS` and `hold` are the [prompt] values in force, for the greeting.
  void serve(ControlServer& server, std::uint32_t timeoutS, std::uint32_t hold);

 private:
  PromptBroker& broker_;
  std::size_t clients_ = 0;  // as last told to the broker
  std::vector<PromptEvent> events_;
};

}  // namespace warden::engine
