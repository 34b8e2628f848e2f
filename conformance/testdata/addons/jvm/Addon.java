import java.nio.file.*;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;

// Touches what a JVM needs from the host view: java.security (Debian's
// JDK links it into /etc/java-17-openjdk), SecureRandom, user.home.
public class Addon {
    public static void main(String[] args) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest("berth".getBytes("UTF-8"));
        new SecureRandom().nextInt();
        Path home = Paths.get(System.getProperty("user.home"), ".jvm-addon");
        Files.createDirectories(home);
        Files.writeString(home.resolve("state"), "ok");
        String input = Files.readString(Paths.get(args[args.length - 1])).trim();
        String sha = HexFormat.of().formatHex(d).substring(0, 12);
        System.err.println("jvm addon: user.home=" + System.getProperty("user.home"));
        System.out.println("{\"commands\":[{\"command\":\"item-update\",\"itemId\":\"item1\",\"actions\":[{\"action\":\"add-tags\",\"tags\":[\"java-" + sha + "\",\"" + input + "\"]}]}]}");
    }
}
