/* mchelper: tiny static scenario payloads for rootfs that lack a tool (like crun's tests/init.c).
 *
 *   mchelper ids            print "uid euid"; a setuid copy shows whether the bit took effect
 *   mchelper hog            touch memory 1 MiB at a time until killed
 *   mchelper forks N        fork up to N sleeping children; print how many started and why it stopped
 *   mchelper bind PORT      bind a TCP port on 0.0.0.0; print "bound" or the error
 *   mchelper connect IP PORT   TCP connect; print "connected" or the error
 *   mchelper chroot-escape PATH   the classic chroot-out trick, then report whether PATH is visible:
 *                           chroot into a subdirectory without chdir, climb "..", chroot "."
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int ids(void) {
    printf("%d %d\n", (int)getuid(), (int)geteuid());
    return 0;
}

static int hog(void) {
    for (;;) {
        char *p = malloc(1 << 20);
        if (!p) return 3;
        memset(p, 1, 1 << 20);
    }
}

static int forks(int n) {
    int started = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            sleep(5);
            _exit(0);
        }
        if (pid < 0) {
            printf("started %d, fork refused: %s\n", started, strerror(errno));
            break;
        }
        started++;
    }
    if (started == n) printf("started %d\n", started);
    fflush(stdout);
    while (wait(NULL) > 0) {}
    return 0;
}

static int bind_port(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(INADDR_ANY)}};
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("bind %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("bound\n");
    return 0;
}

static int connect_to(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (s < 0 || inet_pton(AF_INET, ip, &a.sin_addr) != 1 || connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        printf("connect: %s\n", strerror(errno));
        return 1;
    }
    printf("connected\n");
    return 0;
}

static int chroot_escape(const char *path) {
    struct stat st;
    mkdir("/tmp/mchelper-jail", 0755);
    if (chroot("/tmp/mchelper-jail") < 0) {  /* the cwd stays outside the new root */
        printf("chroot: %s\n", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 256; i++) chdir("..");
    if (chroot(".") < 0) {
        printf("chroot .: %s\n", strerror(errno));
        return 1;
    }
    printf("%s\n", stat(path, &st) == 0 ? "escaped" : "contained");
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "ids")) return ids();
    if (argc >= 2 && !strcmp(argv[1], "hog")) return hog();
    if (argc >= 3 && !strcmp(argv[1], "forks")) return forks(atoi(argv[2]));
    if (argc >= 3 && !strcmp(argv[1], "bind")) return bind_port(atoi(argv[2]));
    if (argc >= 4 && !strcmp(argv[1], "connect")) return connect_to(argv[2], atoi(argv[3]));
    if (argc >= 3 && !strcmp(argv[1], "chroot-escape")) return chroot_escape(argv[2]);
    fprintf(stderr, "usage: mchelper ids | hog | forks N | bind PORT | connect IP PORT | chroot-escape PATH\n");
    return 2;
}
