using System.Buffers;
using EcoMonitor.Service.Hosting;
using Microsoft.Extensions.Options;
using MQTTnet;

namespace EcoMonitor.Service.Ingestion;

/// <summary>Runs ingestion: the MQTT connection feeds validated messages to the pipeline; on stop it takes no more
/// messages, gives the pipeline Ingestion:DrainTimeout to store and acknowledge what it holds, and disconnects.
/// Whatever is not acknowledged by then stays in the broker's session and is redelivered on the next start.</summary>
public sealed class IngestionWorker(
    MqttConnection mqtt,
    IngestionPipeline pipeline,
    MessageProcessor processor,
    IngestionMetrics metrics,
    IOptions<IngestionSettings> settings,
    TimeProvider time,
    ILogger<IngestionWorker> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var pipelineStop = new CancellationTokenSource();
        var storing = Task.Run(() => pipeline.RunAsync(pipelineStop.Token), CancellationToken.None);
        mqtt.MessageReceived = (e, generation) => OnMessageAsync(e, generation, stoppingToken);
        try
        {
            var connecting = mqtt.RunAsync(processor.TopicFilters, stoppingToken);
            // A failure of the pipeline (a bug) stops the service instead of leaving it connected but deaf.
            var first = await Task.WhenAny(connecting, storing);
            await first;
            await connecting;
        }
        finally
        {
            mqtt.MessageReceived = null;
            pipeline.Complete();
            pipelineStop.CancelAfter(settings.Value.DrainTimeout);
            try
            {
                await storing;
            }
            catch (OperationCanceledException)
            {
                log.LogWarning("Stopped before everything received was stored; the broker redelivers the rest on the next start");
            }
            await mqtt.DisconnectAsync();
        }
    }

    async Task OnMessageAsync(MqttApplicationMessageReceivedEventArgs e, int generation, CancellationToken ct)
    {
        var message = e.ApplicationMessage;
        var payload = message.Payload.ToArray();
        var now = time.GetUtcNow();
        metrics.MessageReceived(message.Dup);
        ProcessedMessage result;
        try
        {
            result = processor.Process(message.Topic, payload, now);
        }
        catch (Exception ex)
        {
            // A bug must not leave the message unacknowledged forever: it goes to the dead-letter topic.
            log.LogError(ex, "Processing {Topic} failed", message.Topic);
            result = new ProcessedMessage(message.Topic, null) { Fatal = new(RejectReason.ProcessingFailed, ex.Message) };
        }
        metrics.ReadingsAccepted(result.Accepted.Count);
        try
        {
            await pipeline.EnqueueAsync(new InboundMessage(mqtt.AcknowledgementFor(e, generation), payload, result, now), ct);
        }
        catch (Exception ex) when (ex is OperationCanceledException or System.Threading.Channels.ChannelClosedException)
        {
            // Stopping: left unacknowledged, redelivered on the next start.
        }
    }
}
