#include "engine/attribution/tags.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace warden::engine {
namespace {

using Strings = std::vector<std::string>;

// `trustedCgroup`: what the tracker found only root could have named of the cgroup path.
Strings tagsOf(std::string_view path, const Strings& argv, const Strings* env,
               std::string_view trustedCgroup, std::string_view cwd = "/", bool pathOnHost = true,
               std::string_view flatpakApp = "") {
  TagInput input;
  input.path = path;
  input.pathOnHost = pathOnHost;
  input.argv = &argv;
  input.env = env;
  input.cwd = cwd;
  input.trustedCgroupPath = trustedCgroup;
  input.flatpakApp = flatpakApp;
  return computeTags(input);
}

TEST(Tags, PlainProgramInAServiceHasOnlyTheUnit) {
  EXPECT_EQ(tagsOf("/usr/sbin/nginx", {"nginx", "-g", "daemon off;"}, nullptr,
                   "/system.slice/nginx.service"),
            Strings{"systemd:nginx.service"});
}

TEST(Tags, TheUnitIsTheInnermostOneRootNamed) {
  EXPECT_EQ(systemdUnit("/user.slice/user-1000.slice/user@1000.service"), "user@1000.service");
  EXPECT_EQ(systemdUnit("/user.slice/user-1000.slice/session-3.scope"), "session-3.scope");
  EXPECT_EQ(systemdUnit("/"), std::nullopt);
  EXPECT_EQ(systemdUnit(""), std::nullopt);
  // What a user's manager (or the user) named below user@1000.service is not trusted: the
  // tracker leaves it out of the path tags look at.
  EXPECT_EQ(tagsOf("/usr/bin/syncthing", {"syncthing"}, nullptr,
                   "/user.slice/user-1000.slice/user@1000.service"),
            Strings{"systemd:user@1000.service"});
}

TEST(Tags, FlatpakOnlyWhenTheTrackerFoundTheAppsInstallation) {
  const std::string cgroup =
      "/user.slice/user-1000.slice/user@1000.service/app.slice/"
      "app-flatpak-org.mozilla.firefox-1234.scope";
  EXPECT_EQ(flatpakAppId(cgroup), "org.mozilla.firefox");  // the claim the tracker checks
  EXPECT_EQ(flatpakAppId("/user.slice"), std::nullopt);
  EXPECT_EQ(flatpakAppId("/x/app-flatpak-../../etc-1.scope"), std::nullopt);
  // The environment claims nothing.
  const Strings env = {"HOME=/home/a", "FLATPAK_ID=org.gnome.Maps"};
  EXPECT_TRUE(tagsOf("/usr/bin/x", {"x"}, &env, "", "/", false).empty());
  EXPECT_EQ(tagsOf("/app/lib/firefox/firefox", {"firefox"}, nullptr, "", "/", false,
                   "org.mozilla.firefox"),
            Strings{"flatpak:org.mozilla.firefox"});
}

TEST(Tags, SnapOnlyFromTheHostsSnapMounts) {
  EXPECT_EQ(snapName("/snap/firefox/2000/usr/lib/firefox/firefox", true), "firefox");
  EXPECT_EQ(snapName("/snap/core22/100/usr/bin/python3", true), "core22");
  // Not the host's file at that path (a mount namespace of the process's own).
  EXPECT_EQ(snapName("/snap/firefox/2000/usr/lib/firefox/firefox", false), std::nullopt);
  EXPECT_EQ(snapName("/usr/bin/snapper", true), std::nullopt);
  EXPECT_EQ(snapName("/snap/firefox", true), std::nullopt);
  // Neither a scope's name nor SNAP_NAME says it.
  const Strings env = {"SNAP_NAME=spotify"};
  EXPECT_TRUE(tagsOf("/usr/bin/x", {"x"}, &env, "", "/", true).empty());
}

TEST(Tags, AppImageNeedsTheRuntimeVariableAndItsMount) {
  const Strings env = {"APPIMAGE=/home/a/Apps/Obsidian.AppImage", "APPDIR=/tmp/.mount_ObsidXyz"};
  EXPECT_EQ(appImagePath("/tmp/.mount_ObsidXyz/obsidian", &env), "/home/a/Apps/Obsidian.AppImage");
  const Strings onlyImage = {"APPIMAGE=/x.AppImage"};
  EXPECT_EQ(appImagePath("/usr/bin/curl", &onlyImage), std::nullopt);
  EXPECT_EQ(appImagePath("/tmp/.mount_ObsidXyz/obsidian", nullptr), std::nullopt);
  // APPDIR does not stand in for the mount.
  EXPECT_EQ(appImagePath("/usr/bin/curl", &env), std::nullopt);
}

TEST(Tags, ContainerIdsOfTheCommonRuntimes) {
  const std::string id(64, 'a');
  const std::string hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_EQ(containerId("/docker/" + hex), hex);
  EXPECT_EQ(containerId("/system.slice/docker-" + hex + ".scope"), hex);
  EXPECT_EQ(containerId("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/"
                        "cri-containerd-" +
                        hex + ".scope"),
            hex);
  EXPECT_EQ(containerId("/machine.slice/libpod-" + hex + ".scope/container"), hex);
  EXPECT_EQ(containerId("/kubepods/besteffort/pod123/" + hex), hex);
  EXPECT_EQ(containerId("/lxc.payload.web1"), "web1");
  EXPECT_EQ(containerId("/lxc/db"), "db");
  EXPECT_EQ(containerId("/system.slice/docker.service"), std::nullopt);
  EXPECT_EQ(containerId("/docker/" + hex.substr(0, 63)), std::nullopt);  // too short
  // A container scope is not reported as a systemd unit.
  EXPECT_EQ(systemdUnit("/system.slice/docker-" + hex + ".scope"), std::nullopt);
}

TEST(Tags, AllAtOnceInAFixedOrder) {
  const std::string hex(64, 'f');
  const Strings env = {"HOME=/home/a"};
  const auto tags = tagsOf("/snap/x/1/usr/bin/python3", {"python3", "main.py"}, &env,
                           "/system.slice/docker-" + hex + ".scope", "/app", true, "org.x.App");
  EXPECT_EQ(tags,
            (Strings{"flatpak:org.x.App", "snap:x", "container:" + hex, "script:/app/main.py"}));
}

TEST(Tags, UnknownEnvironmentGivesNoEnvironmentTags) {
  const auto tags = tagsOf("/usr/bin/x", {"x"}, nullptr, "/");
  EXPECT_TRUE(tags.empty());
}

}  // namespace
}  // namespace warden::engine
