// The Java client (kafka-clients, as Logstash bundles it) with default settings against a broker:
// admin create/describe, an idempotent producer (the default) with keys and every compression
// codec, a consumer group that commits, and offsetsForTimes. Exits non-zero with a message on
// the first mismatch.
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.*;

public class ClientCheck {
    static void check(boolean ok, String what) {
        if (!ok) { System.err.println("FAILED: " + what); System.exit(1); }
        System.out.println("ok: " + what);
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0], topic = args[1], group = args[2];
        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1))).all().get(30, TimeUnit.SECONDS);
            TopicDescription d = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic);
            check(d.partitions().size() == 3, "admin created and described a topic with 3 partitions");
        }

        int perCodec = 250;
        String[] codecs = {"none", "gzip", "snappy", "lz4", "zstd"};
        Map<String, Integer> expected = new HashMap<>();
        long beforeLast = 0;
        for (String codec : codecs) {
            Properties pp = new Properties();
            pp.put("bootstrap.servers", bootstrap);
            pp.put("compression.type", codec);
            pp.put("key.serializer", StringSerializer.class.getName());
            pp.put("value.serializer", StringSerializer.class.getName());
            try (KafkaProducer<String, String> p = new KafkaProducer<>(pp)) {
                if (codec.equals("zstd")) { Thread.sleep(20); beforeLast = System.currentTimeMillis(); }
                List<Future<RecordMetadata>> fs = new ArrayList<>();
                for (int i = 0; i < perCodec; i++) {
                    String v = codec + "-" + i;
                    expected.put(v, 0);
                    fs.add(p.send(new ProducerRecord<>(topic, "key-" + (i % 10), v)));
                }
                for (Future<RecordMetadata> f : fs) f.get(30, TimeUnit.SECONDS);
            }
            System.out.println("ok: produced " + perCodec + " records with " + codec + " (idempotent, acks=all by default)");
        }

        Properties cp = new Properties();
        cp.put("bootstrap.servers", bootstrap);
        cp.put("group.id", group);
        cp.put("auto.offset.reset", "earliest");
        cp.put("enable.auto.commit", "false");
        cp.put("key.deserializer", StringDeserializer.class.getName());
        cp.put("value.deserializer", StringDeserializer.class.getName());
        Map<String, String> keyOf = new HashMap<>();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp)) {
            c.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60000;
            while (keyOf.size() < expected.size() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) keyOf.put(r.value(), r.key());
            }
            c.commitSync();
            check(keyOf.keySet().equals(expected.keySet()), "the group read every record once (" + keyOf.size() + ")");
            check(keyOf.get("gzip-13").equals("key-3"), "keys round-trip");
            long committed = 0;
            for (int p = 0; p < 3; p++) {
                OffsetAndMetadata om = c.committed(Set.of(new TopicPartition(topic, p))).get(new TopicPartition(topic, p));
                committed += om == null ? 0 : om.offset();
            }
            check(committed == expected.size(), "committed offsets cover all records (" + committed + ")");

            Map<TopicPartition, Long> query = new HashMap<>();
            for (int p = 0; p < 3; p++) query.put(new TopicPartition(topic, p), beforeLast);
            Map<TopicPartition, OffsetAndTimestamp> found = c.offsetsForTimes(query);
            int fromTime = 0;
            for (Map.Entry<TopicPartition, OffsetAndTimestamp> e : found.entrySet()) {
                if (e.getValue() == null) continue;
                check(e.getValue().timestamp() >= beforeLast, "offsetsForTimes returns a record at or after the time");
                Map<TopicPartition, Long> ends = c.endOffsets(List.of(e.getKey()));
                fromTime += ends.get(e.getKey()) - e.getValue().offset();
            }
            check(fromTime == perCodec, "offsetsForTimes finds exactly the last " + perCodec + " records (" + fromTime + ")");
        }
        System.out.println("ALL OK");
    }
}
