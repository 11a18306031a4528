"""The embedded broker through an independent client library (Eclipse Paho, Debian's python3-paho-mqtt 1.6).

paho_client.py PORT PREFIX PROTOCOL: PROTOCOL is 311 or 5. With an empty client id (3.1.1: clean session), it
subscribes to the device's results at QoS 2, publishes a job at QoS 2 (the full PUBREC/PUBREL/PUBCOMP exchange) and waits for its result; then a second client
leaves a will and drops its socket without DISCONNECT, and the first must receive the will. Prints one JSON line.
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, prefix, protocol = int(sys.argv[1]), sys.argv[2], sys.argv[3]
version = mqtt.MQTTv311 if protocol == "311" else mqtt.MQTTv5
job_id = f"paho-{protocol}-{int(time.time() * 1000)}"
will_topic = f"paho-will/{job_id}"
got = {}
done = threading.Event()


def make(client_id):
    if version == mqtt.MQTTv5:
        return mqtt.Client(client_id=client_id, protocol=version)
    return mqtt.Client(client_id=client_id, clean_session=True, protocol=version)


def on_message(client, userdata, message):
    if message.topic == f"{prefix}/results/{job_id}":
        got["result"] = json.loads(message.payload)
        got["result_qos"] = message.qos
    elif message.topic == will_topic:
        got["will"] = message.payload.decode()
        done.set()


def on_connect(client, userdata, flags, rc, properties=None):
    got["connack"] = int(rc) if not hasattr(rc, "value") else rc.value


main = make("")
main.on_message = on_message
main.on_connect = on_connect
main.connect("127.0.0.1", port)
main.loop_start()
deadline = time.time() + 10
while "connack" not in got and time.time() < deadline:
    time.sleep(0.05)
main.subscribe([(f"{prefix}/results/+", 2), (will_topic, 1)])
time.sleep(0.5)
info = main.publish(f"{prefix}/jobs", json.dumps({"id": job_id, "prompt": "Hello from Paho", "max_tokens": 3}), qos=2)
info.wait_for_publish(10)
got["published"] = info.is_published()

deadline = time.time() + 90
while "result" not in got and time.time() < deadline:
    time.sleep(0.1)

# A client that dies: its socket closes without DISCONNECT, so the broker publishes its will.
dying = make(f"paho-dying-{job_id}")
dying.will_set(will_topic, "gone", qos=1, retain=False)
dying.connect("127.0.0.1", port)
dying.loop_start()
time.sleep(0.5)
dying.loop_stop()
dying.socket().close()
done.wait(30)

main.loop_stop()
main.disconnect()
print(json.dumps(got))
